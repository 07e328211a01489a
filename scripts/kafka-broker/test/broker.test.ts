import { expect } from 'chai';
import sinon from 'sinon';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CompressionTypes,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type EachMessagePayload,
  type Kafka,
  type Producer,
} from 'kafkajs';
import { loadConfig } from '../../../lib/platform/config.js';
import { consumerOptions, createKafka, producerOptions } from '../../../lib/kafka/client.js';
import { silentLogger } from '../../../lib/platform/logger.js';
import { GroupCoordinator } from '../groups.js';
import {
  createRequest,
  produceRequest,
  produceResponse,
  type ProtocolRequest,
} from '../kafkajs-internals.js';
import { Encoder, ErrorCode } from '../protocol.js';
import {
  FAST_CONSUMER,
  collector,
  connected,
  nextAssignment,
  partitionsOf,
  nextFetch,
  startChildConsumer,
  startEmbeddedBroker,
  testKafka,
  uniqueName,
  type RunningBroker,
} from '../../testkit/kafka.js';
import { deferred, within } from '../../testkit/wait.js';

interface Received {
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

function received({ partition, message }: EachMessagePayload): Received {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
  return {
    partition,
    offset: Number(message.offset),
    key: message.key?.toString() ?? '',
    value: message.value?.toString() ?? '',
    headers,
  };
}

describe('in-repo Kafka broker, driven by kafkajs over TCP', function () {
  let broker: RunningBroker;
  let kafka: Kafka;
  let cleanups: (() => Promise<unknown>)[];

  beforeEach(async function () {
    broker = await startEmbeddedBroker();
    kafka = testKafka(broker);
    cleanups = [];
  });

  afterEach(async function () {
    try {
      for (const cleanup of cleanups.reverse()) await cleanup();
    } finally {
      await broker.stop();
    }
  });

  const producer = (options: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> =>
    connected(kafka.producer(options), cleanups);

  const admin = (): Promise<Admin> => connected(kafka.admin(), cleanups);

  async function consumer(
    topic: string,
    config: Partial<ConsumerConfig> & { fromBeginning?: boolean } = {},
  ): Promise<Consumer> {
    const { fromBeginning = true, ...rest } = config;
    const c = await connected(
      kafka.consumer({ groupId: uniqueName('group'), ...FAST_CONSUMER, ...rest }),
      cleanups,
    );
    await c.subscribe({ topics: [topic], fromBeginning });
    return c;
  }

  async function createTopic(topic: string, numPartitions = 3): Promise<void> {
    const a = await admin();
    expect(await a.createTopics({ topics: [{ topic, numPartitions }] })).to.equal(true);
  }

  it('when 1,000 keyed messages with headers are produced, then a consumer gets them all, in order per partition', async function () {
    const topic = uniqueName('orders');
    const p = await producer();
    for (let batch = 0; batch < 10; batch++) {
      await p.send({
        topic,
        compression: batch % 2 ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: Array.from({ length: 100 }, (_, j) => {
          const i = batch * 100 + j;
          return {
            key: `order-${i % 25}`,
            value: JSON.stringify({ i }),
            headers: { 'x-seq': String(i), 'x-source': 'test' },
            timestamp: String(1_700_000_000_000 + i),
          };
        }),
      });
    }

    const got = collector(received);
    const c = await consumer(topic);
    await c.run({ eachMessage: got.eachMessage });
    await within(15000, got.reached(1000), 'all 1,000 messages consumed');

    expect(got.messages).to.have.length(1000);
    const seqs = got.messages.map((m) => (JSON.parse(m.value) as { i: number }).i);
    expect(new Set(seqs).size).to.equal(1000);
    const partitionOfKey = new Map<string, number>();
    const lastOffset = new Map<number, number>();
    const lastSeqOfKey = new Map<string, number>();
    for (const m of got.messages) {
      const i = (JSON.parse(m.value) as { i: number }).i;
      expect(m.key).to.equal(`order-${i % 25}`);
      expect(m.headers).to.deep.equal({ 'x-seq': String(i), 'x-source': 'test' });
      expect(partitionOfKey.get(m.key) ?? m.partition).to.equal(m.partition);
      partitionOfKey.set(m.key, m.partition);
      expect(m.offset).to.equal((lastOffset.get(m.partition) ?? -1) + 1);
      lastOffset.set(m.partition, m.offset);
      expect(i).to.be.greaterThan(lastSeqOfKey.get(m.key) ?? -1);
      lastSeqOfKey.set(m.key, i);
    }
    expect(new Set(partitionOfKey.values()).size).to.equal(3);
  });

  it('when a group commits, disconnects and restarts, then it gets nothing twice', async function () {
    const topic = uniqueName('restart');
    const groupId = uniqueName('group');
    const p = await producer();
    const send = (from: number, count: number) =>
      p.send({
        topic,
        messages: Array.from({ length: count }, (_, j) => ({
          key: `k${from + j}`,
          value: String(from + j),
        })),
      });
    await send(0, 100);

    const first = collector(received);
    const c1 = kafka.consumer({ groupId, ...FAST_CONSUMER });
    cleanups.push(() => c1.disconnect());
    await c1.connect();
    await c1.subscribe({ topic, fromBeginning: true });
    await c1.run({ eachMessage: first.eachMessage });
    await within(10000, first.reached(100), 'first run consumed');
    await c1.disconnect();

    const a = await admin();
    const { groups } = await a.describeGroups([groupId]);
    expect(groups[0]!.state).to.equal('Empty');
    const [committed] = await a.fetchOffsets({ groupId, topics: [topic] });
    const high = await a.fetchTopicOffsets(topic);
    expect(committed!.partitions.map((x) => x.offset).sort()).to.deep.equal(
      high.map((x) => x.high).sort(),
    );

    await send(100, 50);
    const second = collector(received);
    const c2 = await consumer(topic, { groupId });
    await c2.run({ eachMessage: second.eachMessage });
    await within(10000, second.reached(50), 'second run consumed the new messages');

    // Each partition is read in order, so a redelivered old message would have come first.
    const values = second.messages.map((m) => Number(m.value)).sort((x, y) => x - y);
    expect(values).to.deep.equal(Array.from({ length: 50 }, (_, j) => 100 + j));
    expect(first.messages.map((m) => Number(m.value)).sort((x, y) => x - y)).to.deep.equal(
      Array.from({ length: 100 }, (_, j) => j),
    );
  });

  it('when a consumer starts with fromBeginning false, then it sees only messages produced after it joined', async function () {
    const topic = uniqueName('latest');
    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `old-${i}` })),
    });

    const got = collector(received);
    const c = await consumer(topic, { fromBeginning: false, maxWaitTimeInMs: 100 });
    const started = nextFetch(c);
    await c.run({ eachMessage: got.eachMessage });
    await within(10000, started, 'consumer fetching');
    await p.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: `new-${i}` })) });
    await within(10000, got.reached(5), 'new messages consumed');

    expect(got.messages.map((m) => m.value).sort()).to.deep.equal([
      'new-0',
      'new-1',
      'new-2',
      'new-3',
      'new-4',
    ]);
  });

  it('when two members share a group, then they split a 3-partition topic and no message reaches both', async function () {
    const topic = uniqueName('split');
    const groupId = uniqueName('group');
    await createTopic(topic, 3);
    const gotA = collector(received);
    const gotB = collector(received);
    const allConsumed = deferred();
    const counting = (got: ReturnType<typeof collector>) => async (payload: EachMessagePayload) => {
      await got.eachMessage(payload);
      if (gotA.messages.length + gotB.messages.length >= 300) allConsumed.resolve();
    };
    const a = await consumer(topic, { groupId });
    const b = await consumer(topic, { groupId });

    const aAlone = nextAssignment(a);
    await a.run({ eachMessage: counting(gotA) });
    expect(partitionsOf(await within(10000, aAlone, 'first member joined'), topic)).to.deep.equal([
      0, 1, 2,
    ]);

    const aShared = nextAssignment(a, (x) => partitionsOf(x, topic).length < 3);
    const bShared = nextAssignment(b, (x) => partitionsOf(x, topic).length > 0);
    await b.run({ eachMessage: counting(gotB) });
    const [fromA, fromB] = await within(
      15000,
      Promise.all([aShared, bShared]),
      'group rebalanced across both members',
    );
    const partsA = partitionsOf(fromA, topic);
    const partsB = partitionsOf(fromB, topic);
    expect([...partsA, ...partsB].sort()).to.deep.equal([0, 1, 2]);

    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: String(i) })),
    });
    await within(10000, allConsumed.promise, 'all 300 messages consumed by the group');

    const valuesA = new Set(gotA.messages.map((m) => m.value));
    const both = gotB.messages.filter((m) => valuesA.has(m.value));
    expect(both).to.deep.equal([]);
    expect(gotA.messages.length + gotB.messages.length).to.equal(300);
    expect(gotA.messages.every((m) => partsA.includes(m.partition))).to.equal(true);
    expect(gotB.messages.every((m) => partsB.includes(m.partition))).to.equal(true);
  });

  it('when a member dies without leaving, then its session expires and its partitions move to the other member', async function () {
    this.timeout(40000);
    const topic = uniqueName('expiry');
    const groupId = uniqueName('group');
    await createTopic(topic, 3);
    const got = collector(received);
    const survivor = await consumer(topic, { groupId });
    const alone = nextAssignment(survivor);
    await survivor.run({ eachMessage: got.eachMessage });
    await within(10000, alone, 'survivor joined');

    const shared = nextAssignment(survivor, (x) => partitionsOf(x, topic).length < 3);
    const doomed = startChildConsumer(broker.address, topic, groupId);
    cleanups.push(async () => doomed.process.kill('SIGKILL'));
    const doomedParts = await within(15000, doomed.assigned, 'child member got partitions');
    await within(15000, shared, 'survivor gave partitions up');
    expect(doomedParts.length).to.be.greaterThan(0);

    const takesAll = nextAssignment(survivor, (x) => partitionsOf(x, topic).length === 3);
    const killedAt = Date.now();
    doomed.process.kill('SIGKILL');
    await within(20000, takesAll, 'survivor took every partition back');
    const elapsed = Date.now() - killedAt;
    // A LeaveGroup would take well under a second: this took the 6 s session timeout.
    expect(elapsed).to.be.within(3000, 15000);

    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: String(i) })),
    });
    await within(10000, got.reached(30), 'survivor consumed from every partition');
    expect(new Set(got.messages.map((m) => m.partition)).size).to.equal(3);
  });

  it('when the idempotent producer of lib/kafka sends, then every message is stored once', async function () {
    const config = loadConfig({ KAFKA_BOOTSTRAP_SERVERS: broker.address }).kafka;
    const client = createKafka(config, silentLogger());
    const topic = uniqueName('idempotent');
    const p = client.producer(producerOptions(config));
    cleanups.push(() => p.disconnect());
    await p.connect();
    for (let i = 0; i < 5; i++) {
      await p.send({ topic, messages: [{ key: 'same-key', value: `v${i}` }] });
    }

    const got = collector(received);
    const c = client.consumer({ ...consumerOptions(config), ...FAST_CONSUMER });
    cleanups.push(() => c.disconnect());
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({ eachMessage: got.eachMessage });
    await within(10000, got.reached(5), 'idempotent messages consumed');
    expect(got.messages.map((m) => m.value)).to.deep.equal(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('when a producer retries a batch with the same sequence, then it is acknowledged but not appended twice', async function () {
    const topic = uniqueName('dedupe');
    await createTopic(topic, 1);
    const raw = await rawConnection(broker);
    cleanups.push(async () => raw.close());
    const produce = async (firstSequence: number, values: string[]) => {
      const request = produceRequest({
        acks: -1,
        timeout: 1000,
        producerId: 4242n,
        producerEpoch: 0,
        topicData: [
          {
            topic,
            partitions: [
              { partition: 0, firstSequence, messages: values.map((value) => ({ value })) },
            ],
          },
        ],
      });
      const { topics } = await produceResponse.decode(await raw.send(request));
      return topics[0]!.partitions[0]!;
    };

    const first = await produce(0, ['a', 'b', 'c']);
    const retried = await produce(0, ['a', 'b', 'c']);
    const next = await produce(3, ['d']);
    const gap = await produce(10, ['z']);

    expect(first).to.include({ errorCode: 0, baseOffset: '0' });
    expect(retried).to.include({ errorCode: 0, baseOffset: '0' });
    expect(next).to.include({ errorCode: 0, baseOffset: '3' });
    expect(gap.errorCode).to.equal(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const a = await admin();
    expect((await a.fetchTopicOffsets(topic))[0]!.high).to.equal('4');
  });

  it('when the admin client manages topics, then create, list, offsets, metadata and delete work', async function () {
    const a = await admin();
    const topic = uniqueName('admin');
    expect(await a.createTopics({ topics: [{ topic, numPartitions: 5 }] })).to.equal(true);
    expect(await a.createTopics({ topics: [{ topic, numPartitions: 5 }] })).to.equal(false);
    expect(await a.listTopics()).to.include(topic);

    const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
    expect(topics[0]!.partitions).to.have.length(5);
    const cluster = await a.describeCluster();
    expect(cluster.brokers).to.deep.equal([{ nodeId: 1, host: '127.0.0.1', port: broker.port }]);

    const p = await producer();
    const before = Date.now();
    await p.send({
      topic,
      messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: String(i) })),
    });
    const offsets = await a.fetchTopicOffsets(topic);
    expect(offsets).to.have.length(5);
    expect(offsets.every((o) => o.low === '0')).to.equal(true);
    expect(offsets.reduce((sum, o) => sum + Number(o.high), 0)).to.equal(20);
    const byTime = await a.fetchTopicOffsetsByTimestamp(topic, before);
    expect(byTime.every((o) => o.offset === '0')).to.equal(true);

    const unknown = uniqueName('never-created');
    let refused: unknown;
    await a.fetchTopicOffsets(unknown).catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(Error);
    expect(await a.listTopics()).not.to.include(unknown);

    await a.deleteTopics({ topics: [topic] });
    expect(await a.listTopics()).not.to.include(topic);
  });

  it('when a consumer group is running, then the admin client describes it', async function () {
    const topic = uniqueName('described');
    const groupId = uniqueName('group');
    // As on Apache Kafka, a subscription needs the topic to exist.
    await createTopic(topic);
    const c = await consumer(topic, { groupId });
    const joined = nextAssignment(c);
    await c.run({ eachMessage: async () => undefined });
    await within(10000, joined, 'consumer joined');

    const a = await admin();
    const { groups } = await a.describeGroups([groupId]);
    expect(groups[0]).to.include({ groupId, state: 'Stable', protocolType: 'consumer' });
    expect(groups[0]!.members).to.have.length(1);
    expect((await a.listGroups()).groups.map((g) => g.groupId)).to.include(groupId);
  });

  it('when a consumer is idle, then it long-polls instead of spinning', async function () {
    const topic = uniqueName('idle');
    await createTopic(topic);
    const c = await consumer(topic, { maxWaitTimeInMs: 1000 });
    const fetching = nextFetch(c);
    await c.run({ eachMessage: async () => undefined });
    await within(10000, fetching, 'consumer fetching');

    const before = broker.stats.fetchResponses;
    await delay(2000);
    const answered = broker.stats.fetchResponses - before;
    // One answer per max wait (1 s): about 2. A busy loop would be in the thousands.
    expect(answered).to.be.within(1, 4);
  });

  it('when a request uses an unsupported API or version, then it gets UNSUPPORTED_VERSION and the connection stays open', async function () {
    const raw = await rawConnection(broker);
    cleanups.push(async () => raw.close());
    const apiVersions = (apiVersion: number, apiKey = 18): ProtocolRequest => ({
      apiKey,
      apiVersion,
      encode: async () => new Encoder(),
    });

    const tooNew = await raw.send(apiVersions(3));
    expect(tooNew.readInt16BE(0)).to.equal(ErrorCode.UNSUPPORTED_VERSION);
    const unknownApi = await raw.send(apiVersions(0, 999));
    expect(unknownApi.readInt16BE(0)).to.equal(ErrorCode.UNSUPPORTED_VERSION);
    const supported = await raw.send(apiVersions(2));
    expect(supported.readInt16BE(0)).to.equal(ErrorCode.NONE);
  });
});

describe('group coordinator rules (no network, fake clock)', function () {
  let clock: sinon.SinonFakeTimers;
  let groups: GroupCoordinator;

  beforeEach(function () {
    clock = sinon.useFakeTimers();
    groups = new GroupCoordinator({
      logger: silentLogger(),
      minSessionTimeoutMs: 6000,
      maxSessionTimeoutMs: 60000,
    });
  });

  afterEach(function () {
    groups.close();
    clock.restore();
  });

  const join = (memberId = '', protocol = 'RoundRobinAssigner') =>
    groups.join({
      groupId: 'g',
      memberId,
      clientId: 'c',
      clientHost: '127.0.0.1',
      sessionTimeout: 10000,
      rebalanceTimeout: 3000,
      protocolType: 'consumer',
      protocols: [{ name: protocol, metadata: Buffer.from('subscription') }],
    });

  async function stableWithOneMember() {
    const first = await join();
    await groups.sync({
      groupId: 'g',
      generationId: first.generationId,
      memberId: first.memberId,
      assignments: [{ memberId: first.memberId, assignment: Buffer.from('all') }],
    });
    return first;
  }

  it('when a member joins a stable group, then the old generation is told to rejoin and a member that does not is dropped at the rebalance timeout', async function () {
    const first = await stableWithOneMember();

    const second = join();
    expect(groups.heartbeat('g', first.generationId, first.memberId)).to.equal(
      ErrorCode.REBALANCE_IN_PROGRESS,
    );
    await clock.tickAsync(3000);
    const result = await second;

    expect(result.generationId).to.equal(first.generationId + 1);
    expect(result.leaderId).to.equal(result.memberId);
    expect(result.members.map((m) => m.memberId)).to.deep.equal([result.memberId]);
    expect(groups.heartbeat('g', first.generationId, first.memberId)).to.equal(
      ErrorCode.UNKNOWN_MEMBER_ID,
    );
  });

  it('when every known member rejoins, then the rebalance completes at once with all of them', async function () {
    const first = await stableWithOneMember();

    const second = join();
    const again = join(first.memberId);
    const [a, b] = await Promise.all([again, second]);

    expect(a.generationId).to.equal(b.generationId);
    expect(a.leaderId).to.equal(first.memberId);
    expect(a.members).to.have.length(2);
    expect(b.members).to.deep.equal([]);
    expect(Date.now()).to.equal(0); // no timer was needed
  });

  it('when a member stops heartbeating, then it is expired after its session timeout', async function () {
    const first = await stableWithOneMember();

    await clock.tickAsync(9999);
    expect(groups.heartbeat('g', first.generationId, first.memberId)).to.equal(ErrorCode.NONE);
    await clock.tickAsync(10000);

    expect(groups.describe('g').state).to.equal('Empty');
    expect(groups.heartbeat('g', first.generationId, first.memberId)).to.equal(
      ErrorCode.UNKNOWN_MEMBER_ID,
    );
  });

  it('when a member asks for a protocol no other member supports, then it is refused', async function () {
    await stableWithOneMember();

    const refused = await join('', 'SomeOtherAssigner');

    expect(refused.errorCode).to.equal(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  });
});

/** A bare protocol connection, for requests kafkajs's client would never make. */
async function rawConnection(broker: RunningBroker) {
  const socket = net.connect(broker.port, broker.host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  const pending = new Map<number, (payload: Buffer) => void>();
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      const frame = buffered.subarray(4, 4 + buffered.readInt32BE(0));
      buffered = buffered.subarray(4 + frame.length);
      pending.get(frame.readInt32BE(0))?.(frame.subarray(4));
    }
  });
  let correlationId = 0;
  return {
    async send(request: ProtocolRequest): Promise<Buffer> {
      const id = ++correlationId;
      const answer = new Promise<Buffer>((resolve) => pending.set(id, resolve));
      const frame = await createRequest({ correlationId: id, clientId: 'raw', request });
      socket.write(frame.buffer);
      return within(5000, answer, `answer to request ${id}`);
    },
    close: () => socket.destroy(),
  };
}
