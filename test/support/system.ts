import { Writable } from 'node:stream';
import { startDev, type DevRunning } from '../../scripts/dev.js';
import { request, type RequestJson, storesEnv } from './api.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { sharedTestBroker, testBrokerKind, uniqueKafkaNames } from '../../scripts/testkit/kafka.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { freePort } from '../../scripts/testkit/ports.js';
import { startPgBouncer, type TestPgBouncer } from '../../scripts/testkit/pgbouncer.js';

export { freePort };

export interface TestSystem {
  dev: DevRunning;
  db: TestDatabase;
  redis: TestRedisPrefix;
  /** PgBouncer in front of the database, when the system was started through one. */
  pgbouncer?: TestPgBouncer;
  request: RequestJson;
  /** Waits until the order's status is one of `statuses`; returns the order. */
  until(
    orderId: string,
    statuses: string[],
    timeoutMs?: number,
  ): Promise<{ status: string; [k: string]: unknown }>;
  /** The development peers the system runs (all of them: none is switched off in tests). */
  peers(): {
    payments: NonNullable<DevRunning['peers']['payments']>;
    notifications: NonNullable<DevRunning['peers']['notifications']>;
    shipping: NonNullable<DevRunning['peers']['shipping']>;
  };
  /** The events Notifications recorded for the order, sorted. */
  notificationEvents(orderId: string): Array<string | null>;
  stop(): Promise<void>;
}

export const ADMIN_AUTH = {
  authorization: `Basic ${Buffer.from('ops:e2e-pw').toString('base64')}`,
};

export interface TestSystemOptions {
  /**
   * The service's pool goes through PgBouncer in transaction pooling (DATABASE_URL), with
   * prepared statements off; LISTEN and the migrations use the database directly
   * (DATABASE_DIRECT_URL). `env` may still override any of the three.
   */
  throughPgBouncer?: boolean;
}

/**
 * The whole service as `npm run dev` runs it (broker, peers, web, worker, consumer in one
 * process) on its own database and BullMQ prefix, quiet, for end-to-end tests.
 */
export async function startTestSystem(
  env: Record<string, string> = {},
  options: TestSystemOptions = {},
): Promise<TestSystem> {
  const db = await createTestDatabase('e2e');
  const redis = createTestRedisPrefix();
  let pgbouncer: TestPgBouncer | undefined;
  let databaseEnv: Record<string, string> = {};
  if (options.throughPgBouncer) {
    pgbouncer = await startPgBouncer({ databaseUrl: db.url });
    databaseEnv = {
      DATABASE_URL: pgbouncer.urlFor(db.url),
      DATABASE_DIRECT_URL: db.url,
      DATABASE_PREPARED_STATEMENTS: 'false',
    };
  }
  const sink = new Writable({ write: (_c, _e, done) => done() });
  // On Apache Kafka the run's shared broker serves, under this system's own topic and group names;
  // embedded, dev mode starts its own in-repo broker as it does for a developer.
  const kafka: Record<string, string> =
    (await testBrokerKind()) === 'real'
      ? { KAFKA_BOOTSTRAP_SERVERS: (await sharedTestBroker()).address, ...uniqueKafkaNames().env }
      : { KAFKA_DEV_PORT: '0' };
  // PgBouncer is a child process: a failed start must not leave it running.
  const dev = await startDev({
    out: sink,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      LOG_LEVEL: 'fatal',
      ...storesEnv(db, redis),
      ...databaseEnv,
      PORT: String(await freePort()),
      ...kafka,
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD: 'e2e-pw',
      JOB_BACKOFF_MS: '20',
      // Tests do not wait out production's 60 s cap between retries.
      JOB_BACKOFF_MAX_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '5000',
      // Its deliveries would be effects no test counts; a test that wants it passes 'on'.
      WEBHOOK_RECEIVER: 'off',
      ...env,
    },
  }).catch(async (err: unknown) => {
    await pgbouncer?.stop();
    throw err;
  });
  const call: RequestJson = (method, path, body, headers) =>
    request(dev.apiUrl, method, path, body, headers);
  const peers = () => ({
    payments: dev.peers.payments!,
    notifications: dev.peers.notifications!,
    shipping: dev.peers.shipping!,
  });
  return {
    dev,
    db,
    redis,
    pgbouncer,
    request: call,
    peers,
    notificationEvents: (orderId) =>
      peers()
        .notifications.recorded({ order_id: orderId })
        .notifications.map((n) => n.event)
        .sort(),
    async until(orderId, statuses, timeoutMs = 10000) {
      let last: { status: string } | undefined;
      await waitFor(
        async () => {
          last = (await call('GET', `/api/v1/orders/${orderId}`)).body.data;
          return last !== undefined && statuses.includes(last.status);
        },
        { timeoutMs, intervalMs: 20, what: `order ${orderId} to become ${statuses.join(' or ')}` },
      ).catch((err: Error) => {
        // The status it was last seen in, which the message could not know when it was built.
        throw new Error(`${err.message} (last seen: ${last?.status ?? 'not found'})`);
      });
      return last!;
    },
    async stop() {
      try {
        await dev.stop();
      } finally {
        await pgbouncer?.stop();
        await redis.flush();
        await db.drop();
      }
    },
  };
}
