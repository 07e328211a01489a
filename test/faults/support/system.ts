/**
 * One scenario's whole system: its own database (on the run's Postgres or a private server), its
 * own Redis (a prefix on the run's Redis, or a private server), its own Kafka topics and groups
 * (on the run's Apache Kafka, or brokers it brought), the four development peers in this process,
 * a client system subscribed to every order event (webhook-receiver.ts), and the service's three
 * processes as children, configured through their environment only.
 */
import path from 'node:path';
import { silentLogger } from '../../../lib/platform/logger.js';
import { startPeers, type Peers, type PeersOptions } from '../../../scripts/peers/index.js';
import { createTestDatabase, type TestDatabase } from '../../../scripts/testkit/database.js';
import {
  sharedTestBroker,
  testBrokerKind,
  uniqueKafkaNames,
} from '../../../scripts/testkit/kafka.js';
import { startPgBouncer, type TestPgBouncer } from '../../../scripts/testkit/pgbouncer.js';
import { createTestRedisPrefix } from '../../../scripts/testkit/redis.js';
import { freePort } from '../../support/system.js';
import { newWebhookSecret } from '../../support/webhooks.js';
import { settledLedger, type Ledger } from './ledger.js';
import type { AcceptedOrder, LoadOptions, LoadRun } from './load.js';
import { sendOrders } from './load.js';
import type { ScenarioContext } from './schedule.js';
import { createService, type Service } from './service.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';
import { storesEnv } from '../../support/api.js';

export const ADMIN = { user: 'ops', password: 'faults-admin-pw' };
export const ADMIN_HEADERS = {
  authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
};

/**
 * FAULTS_WEBHOOKS=off runs the scenarios without the webhook subscriber, so without its
 * deliveries in the ledger (to compare a run's time with one before webhooks); on by default.
 */
export const WEBHOOKS_IN_LEDGER = process.env.FAULTS_WEBHOOKS !== 'off';

export interface FaultSystemOptions {
  /** Admin URL of a private Postgres; the run's Postgres when absent. */
  postgresAdminUrl?: string;
  /**
   * The processes' pool through PgBouncer in transaction pooling in front of the database, with
   * prepared statements off; LISTEN and the migrations direct (DATABASE_DIRECT_URL).
   */
  throughPgBouncer?: boolean;
  /** URL of a private Redis; a unique prefix on the run's Redis when absent. */
  redisUrl?: string;
  /** Seed nodes of a Redis Cluster the scenario brought (REDIS_CLUSTER_NODES); wins over redisUrl. */
  redisClusterSeeds?: string;
  /** Kafka brokers the scenario brought; the run's Apache Kafka when absent. */
  kafkaBrokers?: string[];
  /** Variables for the service's processes, over the suite's defaults. */
  env?: Record<string, string>;
  /**
   * Subscribe the suite's webhook receiver to every event before any order exists, and count its
   * deliveries in the ledger. @defaultValue WEBHOOKS_IN_LEDGER
   */
  webhooks?: boolean;
  /** Options for the development peers (Shipping's Kafka settings are filled in). */
  peers?: Omit<PeersOptions, 'shipping'> & { shipping?: Partial<PeersOptions['shipping']> };
}

export interface FaultSystem {
  db: TestDatabase;
  /** PgBouncer in front of the database, when asked for. */
  pgbouncer?: TestPgBouncer;
  peers: Peers;
  /** The client system subscribed to every order event; null when the run left it out. */
  webhooks: WebhookReceiver | null;
  service: Service;
  /** The web process's base URL (its port is fixed, so restarts keep it). */
  url: string;
  /** What the service's processes were given. */
  env: Record<string, string>;
  kafka: { brokers: string[]; requestsTopic: string; responsesTopic: string };
  /** Sends orders to the web process (see load.ts). */
  send(options: Omit<LoadOptions, 'url'>): LoadRun;
  /** Waits until the ledger of `orders` balances (or `timeoutMs` passes) and returns it. */
  ledger(orders: AcceptedOrder[], timeoutMs: number): Promise<Ledger>;
  /** Waits for the load to be answered, then for the ledger of what it got accepted. */
  settle(load: LoadRun, timeoutMs: number): Promise<Ledger>;
}

/** Apache Kafka is part of what the suite proves; the in-repo broker would prove something else. */
async function runKafka(): Promise<string[]> {
  if ((await testBrokerKind()) !== 'real') {
    throw new Error(
      'the fault suite runs on Apache Kafka only: unset KAFKA_TEST_BROKER or set it to real',
    );
  }
  return [(await sharedTestBroker()).address];
}

export async function startFaultSystem(
  ctx: ScenarioContext,
  options: FaultSystemOptions = {},
): Promise<FaultSystem> {
  const label = `faults_${ctx.id.replace(/\W+/g, '_')}`;
  const db = await createTestDatabase(label, options.postgresAdminUrl);
  ctx.defer(() => db.drop());
  let pgbouncer: TestPgBouncer | undefined;
  let databaseEnv: Record<string, string> = {};
  if (options.throughPgBouncer) {
    pgbouncer = await startPgBouncer({ databaseUrl: db.url });
    ctx.defer(() => pgbouncer?.stop());
    databaseEnv = {
      DATABASE_URL: pgbouncer.urlFor(db.url),
      DATABASE_DIRECT_URL: db.url,
      DATABASE_PREPARED_STATEMENTS: 'false',
    };
  }

  let redis: { url: string; prefix: string };
  const cluster: Record<string, string> = {};
  if (options.redisClusterSeeds) {
    // REDIS_URL's host is unused on a cluster; it names a seed so a mistake would show as MOVED.
    redis = { url: `redis://${options.redisClusterSeeds.split(',')[0]}`, prefix: 'orders' };
    cluster.REDIS_CLUSTER_NODES = options.redisClusterSeeds;
  } else if (options.redisUrl) {
    redis = { url: options.redisUrl, prefix: '{orders}' };
  } else {
    const shared = createTestRedisPrefix();
    ctx.defer(() => shared.flush());
    redis = shared;
  }

  const brokers = options.kafkaBrokers ?? (await runKafka());
  const names = uniqueKafkaNames();
  const secret = newWebhookSecret();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const peers = await startPeers({
    logger: silentLogger(),
    ...options.peers,
    payments: {
      webhookSecret: secret,
      logger: silentLogger(),
      // Real Payments keeps calling back for days; this one for a few minutes, enough to outlast
      // every outage a scenario makes of the web process or its database.
      callbackRetry: { maxAttempts: 200, baseDelayMs: 200, maxDelayMs: 2000 },
      ...options.peers?.payments,
    },
    notifications: { logger: silentLogger(), ...options.peers?.notifications },
    shipping: {
      brokers,
      ...names.shippingPeer,
      logger: silentLogger(),
      ...options.peers?.shipping,
    },
  });
  ctx.defer(() => peers.stop());
  let webhooks: WebhookReceiver | null = null;
  if (options.webhooks ?? WEBHOOKS_IN_LEDGER) {
    webhooks = await startWebhookReceiver(db.pool);
    ctx.defer(() => webhooks?.close());
  }

  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    PORT: String(port),
    ...storesEnv(db, redis),
    ...databaseEnv,
    ...cluster,
    KAFKA_BOOTSTRAP_SERVERS: brokers.join(','),
    ...names.env,
    CATALOG_SERVICE_API_URL: `${peers.catalog.url}/api/items`,
    PAYMENTS_SERVICE_API_URL: `${peers.payments.url}/api/payments`,
    PAYMENTS_CALLBACK_URL: `${url}/api/v1/orders/payment-callback`,
    NOTIFICATIONS_SERVICE_API_URL: `${peers.notifications.url}/api/notifications`,
    PAYMENTS_WEBHOOK_SECRET: secret,
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    SHUTDOWN_TIMEOUT_MS: '10000',
    // The receiver listens on loopback, which production refuses to deliver to.
    WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
    ...options.env,
  };
  const service = createService(
    { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    path.join(ctx.dir, 'service.log'),
  );
  ctx.defer(() => service.stop());
  await service.start();
  ctx.log('service ready (web, worker, consumer)');

  const ledger = (orders: AcceptedOrder[], timeoutMs: number) =>
    settledLedger({ pool: db.pool, peers, webhooks, orders }, timeoutMs);
  return {
    db,
    pgbouncer,
    peers,
    webhooks,
    service,
    url,
    env,
    kafka: {
      brokers,
      requestsTopic: names.env.KAFKA_SHIPPING_REQUESTS_TOPIC,
      responsesTopic: names.env.KAFKA_SHIPPING_RESPONSES_TOPIC,
    },
    send: (load) => sendOrders({ url, ...load }),
    ledger,
    async settle(load, timeoutMs) {
      await load.done;
      ctx.log(`${load.accepted.length} orders accepted; waiting for the ledger`);
      for (const order of load.unanswered) {
        ctx.log(
          `given up on order ${order.body.idempotency_key}: attempts ${JSON.stringify(order.outcomes)}`,
        );
      }
      return ledger(load.accepted, timeoutMs);
    },
  };
}
