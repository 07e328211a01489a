import { expect } from 'chai';
import { startHealthServer, type HealthServer } from '../../lib/platform/health-server.js';
import { startWorker, workerReadiness, type RunningWorker } from '../../jobs/start-worker.js';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { shippingRequested } from '../../db/outbox/events.js';
import { testConfig, storesEnv } from '../support/api.js';
import { expectOneRequestFor, readFromStart } from '../support/kafka.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import {
  startPrivateTestBroker,
  testKafka,
  uniqueName,
  type PrivateTestBroker,
} from '../../scripts/testkit/kafka.js';
import { insertOrder } from '../support/orders.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';

describe('shipping requests while the Kafka broker is down', function () {
  this.timeout(60000);
  let db: TestDatabase;
  let redis: TestRedisPrefix;
  let peer: RecordingPeer;
  let broker: PrivateTestBroker | undefined;
  let worker: RunningWorker | undefined;
  let health: HealthServer | undefined;

  before(async () => {
    db = await createTestDatabase('brokerrestart');
    redis = createTestRedisPrefix();
    peer = await startRecordingPeer();
  });
  after(async () => {
    await health?.stop();
    await worker?.stop();
    await broker?.destroy();
    await peer?.close();
    await redis?.flush();
    await db?.drop();
  });

  const ready = async () => {
    const res = await fetch(`http://127.0.0.1:${health!.port}/health/ready`);
    return {
      status: res.status,
      body: (await res.json()) as { data: { checks: Record<string, string> } },
    };
  };

  it('when the broker comes back, then the pending request is sent once, and readiness follows the broker', async () => {
    broker = await startPrivateTestBroker();
    const topic = uniqueName('requests');
    const config = testConfig({
      ...storesEnv(db, redis),
      PAYMENTS_SERVICE_API_URL: peer.url,
      NOTIFICATIONS_SERVICE_API_URL: peer.url,
      KAFKA_BOOTSTRAP_SERVERS: broker.address,
      KAFKA_SHIPPING_REQUESTS_TOPIC: topic,
      JOB_BACKOFF_MS: '100',
      JOB_BACKOFF_MAX_MS: '1000',
      SHUTDOWN_TIMEOUT_MS: '3000',
    });
    worker = await startWorker(config, { logger: silentLogger(), database: db });
    health = await startHealthServer({
      port: 0,
      logger: silentLogger(),
      checks: workerReadiness(worker, db, silentLogger()),
    });
    await waitFor(async () => (await ready()).status === 200, {
      timeoutMs: 10000,
      what: 'worker ready',
    }).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify((await ready()).body)}`);
    });

    await broker.stop();
    await waitFor(async () => (await ready()).status === 503, {
      timeoutMs: 10000,
      what: 'readiness to see Kafka down',
    });
    // Named, without kafkajs's own error (hosts and ports): the worker's port answers anyone.
    const down = await ready();
    expect(down.body.data.checks.kafka).to.match(/^down(: no answer within 2000 ms)?$/);
    expect(JSON.stringify(down.body)).not.to.include(broker.address);

    const order = await insertOrder(db.db, { status: 'paid' });
    const [outboxId] = await insertOutboxRows(db.db, [shippingRequested(order)]);
    await waitFor(
      async () =>
        (await db.pool.query('select last_error from outbox where id = $1', [outboxId])).rows[0]
          .last_error !== null,
      { timeoutMs: 20000, what: 'a failed send attempt' },
    );

    await broker.start();
    await waitFor(
      async () =>
        (await db.pool.query('select completed_at from outbox where id = $1', [outboxId])).rows[0]
          .completed_at !== null,
      { timeoutMs: 30000, what: 'the shipping row to complete' },
    );
    // Only now: the worker creates the topic, and Apache Kafka refuses a subscription to a
    // topic that does not exist. Reading from the beginning still sees every request sent.
    const received = await readFromStart(testKafka(broker), topic, {
      group: 'shipping-peer',
      what: 'the request at Shipping',
      timeoutMs: 10000,
    });
    expectOneRequestFor(received, order);
    await waitFor(async () => (await ready()).status === 200, {
      timeoutMs: 10000,
      what: 'readiness back',
    });
  });
});
