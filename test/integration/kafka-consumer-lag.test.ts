import { expect } from 'chai';
import type { Kafka } from 'kafkajs';
import { consumerLagReader } from '../../lib/kafka/consumer-lag.js';
import { ensureTopics } from '../../lib/kafka/topics.js';
import { silentLogger } from '../../lib/platform/logger.js';
import {
  FAST_CONSUMER,
  sharedTestBroker,
  testKafka,
  uniqueName,
  type TestBroker,
  untilServed,
} from '../../scripts/testkit/kafka.js';
import { waitFor } from '../../scripts/testkit/wait.js';

/** kafka_consumer_lag's source: end offsets minus the group's committed offsets, via kafkajs admin. */
describe('Kafka consumer lag', function () {
  this.timeout(30000);
  let broker: TestBroker;
  let kafka: Kafka;

  before(async () => {
    broker = await sharedTestBroker();
    kafka = testKafka(broker);
  });

  async function topicWith(messages: number): Promise<string> {
    const topic = uniqueName('lag');
    await ensureTopics(kafka, [topic], silentLogger());
    // A new partition can refuse ListOffsets for a moment, which the lag reader's admin does not retry.
    const admin = kafka.admin();
    await admin.connect();
    await untilServed(admin, topic);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: messages }, (_, i) => ({ key: 'k', value: `m${i}` })),
    });
    await producer.disconnect();
    return topic;
  }

  /** The reader's first answer; a group coordinator that is still loading (NOT_COORDINATOR_FOR_GROUP) or a
   * moving leader fails a read, which a scrape simply repeats. */
  async function firstAnswer(reader: ReturnType<typeof consumerLagReader>) {
    let answer: Awaited<ReturnType<typeof reader.read>> | undefined;
    const passing = new Set([
      'NOT_COORDINATOR_FOR_GROUP',
      'GROUP_COORDINATOR_NOT_AVAILABLE',
      'GROUP_LOAD_IN_PROGRESS',
      'NOT_LEADER_FOR_PARTITION',
      'LEADER_NOT_AVAILABLE',
    ]);
    await waitFor(
      async () => {
        try {
          answer = await reader.read();
          return true;
        } catch (err) {
          if (passing.has((err as { type?: string }).type ?? '')) return false;
          throw err;
        }
      },
      { timeoutMs: 10000, intervalMs: 100, what: 'a lag reading' },
    );
    return answer!;
  }

  it('when a group has committed nothing, then every message counts; once it consumed them all, the lag is 0', async () => {
    const topic = await topicWith(3);
    const groupId = uniqueName('lag-group');
    const fresh = () => consumerLagReader(kafka, { groupId, topic, minIntervalMs: 0 });
    const before = fresh();
    try {
      expect((await firstAnswer(before)).reduce((n, p) => n + p.lag, 0)).to.equal(3);
    } finally {
      await before.close();
    }

    const consumer = kafka.consumer({ groupId, ...FAST_CONSUMER });
    let seen = 0;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => void (seen += 1) });
    await waitFor(() => seen === 3, { what: 'three messages consumed' });
    await consumer.disconnect(); // commits the resolved offsets

    const after = fresh();
    try {
      const lag = await firstAnswer(after);
      expect(lag.every((p) => p.topic === topic)).to.equal(true);
      expect(lag.reduce((n, p) => n + p.lag, 0)).to.equal(0);
    } finally {
      await after.close();
    }
  });

  it('when scraped again within the interval, then the last answer is served without asking Kafka', async () => {
    const topic = await topicWith(1);
    const reader = consumerLagReader(kafka, {
      groupId: uniqueName('lag-group'),
      topic,
      minIntervalMs: 60_000,
    });
    try {
      const first = await reader.read();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: [{ value: 'more' }] });
      await producer.disconnect();
      expect(await reader.read()).to.deep.equal(first);
      expect(first.reduce((n, p) => n + p.lag, 0)).to.equal(1);
    } finally {
      await reader.close();
    }
  });
});
