/**
 * `npm run dev`: the whole service in one process, for development. It migrates (creating the
 * database if needed), starts the in-repo Kafka broker when no Kafka is configured, a development
 * peer for every peer that is not configured, then the web, worker and consumer processes, with
 * readable logs, and prints what is where. Ctrl-C stops everything.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { startWeb } from '../api/server.js';
import { createDatabase } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { startShippingConsumer } from '../jobs/start-shipping-consumer.js';
import { startWorker } from '../jobs/start-worker.js';
import { directDatabaseUrl, loadConfig, type Config } from '../lib/platform/config.js';
import { database } from '../lib/platform/config/database.js';
import { redis } from '../lib/platform/config/redis.js';
import { createKafka } from '../lib/kafka/client.js';
import { createLogger, type Logger } from '../lib/platform/logger.js';
import { isMain } from '../lib/platform/main.js';
import { exitOnSignals } from '../lib/platform/shutdown.js';
import { createMetrics } from '../lib/platform/metrics.js';
import { startBroker } from './kafka-broker/broker.js';
import { DEMO_ITEMS, startCatalogPeer, type CatalogPeer } from './peers/catalog.js';
import { startNotificationsPeer, type NotificationsPeer } from './peers/notifications.js';
import {
  dropCallbackFromEnv,
  refundOutcomeFromEnv,
  startPaymentsPeer,
  type PaymentsPeer,
} from './peers/payments.js';
import { shippingRulesFromEnv, startShippingPeer, type ShippingPeer } from './peers/shipping.js';
import { startWebhookReceiver, type WebhookReceiver } from './peers/webhook-receiver.js';
import { ensureDatabase } from './dev/ensure-database.js';
import { ensureServicesOrExit } from './dev/ensure-services.js';
import { prettyStream } from './dev/pretty-stream.js';
import { subscribeReceiver, unsubscribeReceiver } from './dev/webhook-subscription.js';

export interface DevOptions {
  env?: NodeJS.ProcessEnv;
  /** Where readable logs go (stdout by default). */
  out?: NodeJS.WritableStream;
}

export interface DevRunning {
  apiUrl: string;
  config: Config;
  /** The development peers this run started (each shows what it recorded, in-process and over HTTP). */
  peers: {
    catalog?: CatalogPeer;
    payments?: PaymentsPeer;
    notifications?: NotificationsPeer;
    shipping?: ShippingPeer;
    /** The development webhook receiver (off with WEBHOOK_RECEIVER=off). */
    webhooks?: WebhookReceiver;
  };
  /** The receiver's subscription, when the service has the subscription API. */
  webhookSubscriptionId?: string;
  stop(): Promise<void>;
}

const DEV_ADMIN = { user: 'admin', password: 'admin' };

export async function startDev({
  env: given = process.env,
  out = process.stdout,
}: DevOptions = {}): Promise<DevRunning> {
  // Stops run in reverse order of starting; a failed start stops what had started.
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const started = (name: string, stop: () => Promise<void>) => stops.unshift({ name, stop });
  const stopAll = once(() => stopInOrder(stops));
  try {
    return await startAll(given, out, started, stopAll);
  } catch (err) {
    await stopAll().catch((stopErr: unknown) => out.write(`${(stopErr as Error).message}\n`));
    throw err;
  }
}

async function startAll(
  given: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream,
  started: (name: string, stop: () => Promise<void>) => void,
  stopAll: () => Promise<void>,
): Promise<DevRunning> {
  const env: NodeJS.ProcessEnv = { ...given };
  const peers: DevRunning['peers'] = {};
  const stream = prettyStream(out);
  const level = (env.LOG_LEVEL ?? 'info') as 'info';
  const log = (name: string): Logger => createLogger({ name, level, out: stream });
  const logger = log('dev');
  const notes: string[] = [];

  // Development defaults: a signed webhook and a visible Bull Board, unless configured otherwise.
  env.PAYMENTS_WEBHOOK_SECRET ??= `whsec_${randomBytes(24).toString('base64')}`;
  if (!env.ADMIN_USER && !env.ADMIN_PASSWORD) {
    env.ADMIN_USER = DEV_ADMIN.user;
    env.ADMIN_PASSWORD = DEV_ADMIN.password;
  }
  // A payment whose callback is lost is asked about after 10 s here, not production's 10 min, so
  // PAYMENTS_CALLBACK_DROP_RATE=1 shows an order healed by its payment check while you watch.
  env.PAYMENT_CONFIRM_AFTER_MS ??= '10000';
  const port = Number(env.PORT ?? 8000);
  env.PAYMENTS_CALLBACK_URL ??= `http://127.0.0.1:${port}/api/v1/orders/payment-callback`;

  if (!env.KAFKA_BOOTSTRAP_SERVERS && !env.KAFKA_URL) {
    const broker = await startBroker({
      port: Number(env.KAFKA_DEV_PORT ?? 0),
      logger: log('kafka-dev-broker'),
    });
    started('kafka broker', () => broker.stop());
    env.KAFKA_BOOTSTRAP_SERVERS = broker.address;
    notes.push(`Kafka        ${broker.address}  (in-repo development broker, not for production)`);
  }
  if (!env.CATALOG_SERVICE_API_URL) {
    const catalog = await startCatalogPeer({ port: Number(env.CATALOG_PORT ?? 0) });
    started('catalog peer', () => catalog.stop());
    env.CATALOG_SERVICE_API_URL = `${catalog.url}/api/items`;
    peers.catalog = catalog;
    notes.push(`Catalog      ${catalog.url}  (development peer; GET / lists the items)`);
  }
  if (!env.PAYMENTS_SERVICE_API_URL) {
    const payments = await startPaymentsPeer({
      port: Number(env.PAYMENTS_PORT ?? 0),
      webhookSecret: env.PAYMENTS_WEBHOOK_SECRET,
      refundOutcome: refundOutcomeFromEnv(env),
      dropCallback: dropCallbackFromEnv(env),
      logger: log('payments-peer'),
    });
    started('payments peer', () => payments.stop());
    env.PAYMENTS_SERVICE_API_URL = `${payments.url}/api/payments`;
    peers.payments = payments;
    notes.push(
      `Payments     ${payments.url}  (development peer; GET /payments lists payments and ` +
        'refunds; amounts ending .13 fail)',
    );
  }
  if (!env.NOTIFICATIONS_SERVICE_API_URL) {
    const notifications = await startNotificationsPeer({
      port: Number(env.NOTIFICATIONS_PORT ?? 0),
      logger: log('notifications-peer'),
    });
    started('notifications peer', () => notifications.stop());
    env.NOTIFICATIONS_SERVICE_API_URL = `${notifications.url}/api/notifications`;
    peers.notifications = notifications;
    notes.push(`Notifications ${notifications.url}  (development peer; GET /notifications)`);
  }

  // WEBHOOK_RECEIVER=off leaves it out (the tests' systems, the benchmark): each delivery is an
  // effect they would otherwise count.
  let receiver: WebhookReceiver | undefined;
  if (env.WEBHOOK_RECEIVER !== 'off') {
    receiver = await startWebhookReceiver({
      port: Number(env.WEBHOOK_RECEIVER_PORT ?? 0),
      logger: log('webhook-receiver'),
    });
    started('webhook receiver', () => receiver!.stop());
    peers.webhooks = receiver;
    // It listens on 127.0.0.1, which production's rule refuses.
    env.WEBHOOK_ALLOW_PRIVATE_URLS ??= 'true';
  }

  const config = loadConfig(env);
  if (await ensureDatabase(directDatabaseUrl(config))) logger.info('database created');
  await runMigrations(directDatabaseUrl(config), logger, {
    lockTimeoutMs: config.migrationLockTimeoutMs,
    lockAttempts: config.migrationLockAttempts,
  });
  const database = createDatabase({
    url: config.databaseUrl,
    max: config.dbPoolMax,
    logger,
    preparedStatements: config.databasePreparedStatements,
  });
  started('database pool', () => database.close());

  if (env.SHIPPING_PEER !== 'off') {
    // SHIPPING_HOLD_MS, SHIPPING_CANCEL_OUTCOME: how long quantity 12 packs, and whether a
    // cancellation of what has not shipped yet is honoured (cancel) or too late (ship).
    const rules = shippingRulesFromEnv(env);
    const shipping = await startShippingPeer({
      kafka: createKafka(config.kafka, log('shipping-peer')),
      requestsTopic: config.kafka.requestsTopic,
      responsesTopic: config.kafka.responsesTopic,
      // Named after the service's group, so two dev runs on one Kafka never share a peer group.
      groupId: `${config.kafka.groupId}.dev-shipping`,
      port: Number(env.SHIPPING_PORT ?? 0),
      ...rules,
      logger: log('shipping-peer'),
    });
    started('shipping peer', () => shipping.stop());
    peers.shipping = shipping;
    notes.push(
      `Shipping     ${shipping.url}/shipments  (development peer over Kafka; quantity 13 fails, ` +
        `quantity 12 packs for ${(rules.holdMs ?? 0) / 1000} s)`,
    );
  }

  // One registry for the three processes: the web's /metrics shows them all.
  const metrics = createMetrics();
  const worker = await startWorker(config, { logger: log('worker'), database, metrics });
  started('worker', () => worker.stop());
  const consumer = await startShippingConsumer(config, {
    logger: log('consumer'),
    database,
    metrics,
  });
  started('consumer', () => consumer.stop());
  const web = await startWeb(config, {
    logger: log('web'),
    database,
    queues: worker.queueSet,
    metrics,
  });
  started('web', () => web.stop());

  const base = `http://127.0.0.1:${web.port}`;
  let webhookSubscriptionId: string | undefined;
  if (receiver) {
    webhookSubscriptionId = await subscribeDevReceiver(base, config, receiver, logger, notes);
    if (webhookSubscriptionId) {
      const api = adminApi(base, config)!;
      const id = webhookSubscriptionId;
      // Before web stops (stops run in reverse): a later run would find no receiver at its URL.
      started('webhook subscription', () => unsubscribeReceiver(api, id));
    }
  }
  const item = DEMO_ITEMS[0]!;
  const uuid = `'$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)'`;
  const createCurl = (quantity: number) =>
    `curl -s -X POST ${base}/api/v1/orders -H 'content-type: application/json' \\
      -d '{"item_id":"${item.id}","quantity":${quantity},"user_id":"demo-user","idempotency_key":"${uuid}"}'`;
  out.write(`
  Order Service — development mode
    API          ${base}/api/v1/orders
    Swagger UI   ${base}/api/docs
    Metrics      ${base}/metrics  (same credentials as Bull Board)
    Bull Board   ${base}/admin/queues  (user ${config.adminUser}, password ${env.ADMIN_USER === DEV_ADMIN.user && env.ADMIN_PASSWORD === DEV_ADMIN.password ? DEV_ADMIN.password : '<ADMIN_PASSWORD>'})
    ${notes.join('\n    ')}

  Create an order (a ${item.name} at ${item.price}):
    ${createCurl(2)}
  Follow it (new → paid → shipped within a moment):
    curl -s ${base}/api/v1/orders/<id from the answer>
  Cancel one: quantity 12 packs at Shipping for a while, so it is still paid when you cancel it:
    ${createCurl(12)}
    curl -s -X POST ${base}/api/v1/orders/<id>/cancel -H 'content-type: application/json' \\
      -d '{"user_id":"demo-user","reason":"changed my mind"}'
  Shipping confirms: cancelled, and the payment refunded (refund_status: refunded, in the history
  too). A shipped order answers 409.
  A lost payment callback: start with PAYMENTS_CALLBACK_DROP_RATE=1 (Payments drops every
  callback; 0.2 drops a fifth). An order then stays new until its payment check asks Payments,
  ${config.jobs.paymentConfirmAfterMs / 1000} s later (PAYMENT_CONFIRM_AFTER_MS), and becomes paid: its history and the worker's
  "payment check: Payments had a final answer" line show it.
  Ctrl-C stops everything.

`);
  return { apiUrl: base, config, peers, webhookSubscriptionId, stop: stopAll };
}

function adminApi(baseUrl: string, config: Config) {
  const { adminUser: user, adminPassword: password } = config;
  return user && password ? { baseUrl, user, password } : undefined;
}

/**
 * Subscribes the receiver to every order event and hands it the secret; answers the subscription's
 * id, or undefined (with a note saying why) when there are no admin credentials or no API.
 */
async function subscribeDevReceiver(
  base: string,
  config: Config,
  receiver: WebhookReceiver,
  logger: Logger,
  notes: string[],
): Promise<string | undefined> {
  const where = `Webhooks     ${receiver.url}/webhooks  (development receiver; GET lists what it received)`;
  const api = adminApi(base, config);
  if (!api) {
    logger.warn('webhook receiver not subscribed: ADMIN_USER/ADMIN_PASSWORD are not set');
    notes.push(`${where}\n                 not subscribed: no admin credentials`);
    return undefined;
  }
  const subscription = await subscribeReceiver(api, `${receiver.url}/webhooks`).catch(
    (err: unknown) => {
      throw new Error(
        `subscribing the development webhook receiver failed (WEBHOOK_RECEIVER=off starts ` +
          `without it): ${(err as Error).message}`,
        { cause: err },
      );
    },
  );
  if (!subscription.subscribed) {
    logger.warn(
      `webhook receiver not subscribed: ${base}/api/v1/webhook-subscriptions answered 404 ` +
        '(this build has no subscription API)',
    );
    notes.push(`${where}\n                 not subscribed: this build has no subscription API`);
    return undefined;
  }
  receiver.setSecrets([subscription.secret]);
  if (subscription.removedStale) {
    logger.info(`removed ${subscription.removedStale} subscription(s) of earlier development runs`);
  }
  notes.push(
    `${where}\n                 subscribed to every order event (subscription ${subscription.id})`,
  );
  return subscription.id;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

async function stopInOrder(stops: { name: string; stop: () => Promise<void> }[]): Promise<void> {
  const failures: string[] = [];
  for (const { name, stop } of stops) {
    try {
      await stop();
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
    }
  }
  if (failures.length)
    throw new Error(`some parts did not stop cleanly:\n  ${failures.join('\n  ')}`);
}

if (isMain(import.meta.url)) {
  if (existsSync('.env')) process.loadEnvFile('.env');
  await ensureServicesOrExit([
    {
      name: 'PostgreSQL',
      url: process.env.DATABASE_URL ?? String(database.variables.databaseUrl.default),
      variable: 'DATABASE_URL',
    },
    // On a cluster, its first seed node stands for it.
    process.env.REDIS_CLUSTER_NODES
      ? {
          name: 'Redis',
          url: `redis://${process.env.REDIS_CLUSTER_NODES.split(',')[0]!.trim()}`,
          variable: 'REDIS_CLUSTER_NODES',
        }
      : {
          name: 'Redis',
          url: process.env.REDIS_URL ?? String(redis.variables.redisUrl.default),
          variable: 'REDIS_URL',
        },
  ]);
  startDev().then(
    (dev) => {
      // A terminal's Ctrl-C reaches npm, tsx and this process alike, and tsx forwards it again:
      // exitOnSignals ignores the repeats instead of letting a second SIGINT kill the stop.
      exitOnSignals(
        async () => {
          await dev.stop();
          process.stdout.write('  Order Service development mode stopped cleanly.\n');
        },
        dev.config.shutdownTimeoutMs,
        createLogger({ name: 'dev', level: dev.config.logLevel, out: prettyStream() }),
      );
    },
    (err: unknown) => {
      process.stderr.write(
        `development mode failed to start: ${(err as Error).stack ?? String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
