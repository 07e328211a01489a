import { loadConfig } from '../../lib/platform/config.js';
import { createLogger, type Logger } from '../../lib/platform/logger.js';
import { isMain } from '../../lib/platform/main.js';
import { startCatalogPeer, type CatalogItemFixture, type CatalogPeer } from './catalog.js';
import { envInteger, runUntilSignal } from './http-server.js';
import {
  notificationsOptionsFromEnv,
  startNotificationsPeer,
  type NotificationsPeer,
  type NotificationsPeerOptions,
} from './notifications.js';
import {
  paymentsOptionsFromEnv,
  startPaymentsPeer,
  type PaymentsPeer,
  type PaymentsPeerOptions,
} from './payments.js';
import {
  shippingOptionsFromEnv,
  startShippingPeer,
  type ShippingPeer,
  type ShippingPeerOptions,
} from './shipping.js';

/**
 * All four development peers in one process: Catalog, Payments and Notifications as HTTP servers,
 * Shipping as a Kafka consumer group. The development mode, the end-to-end tests and the benchmark
 * start them here; each peer's own file runs it alone.
 */
export interface PeersOptions {
  catalog?: { port?: number; items?: CatalogItemFixture[] };
  payments?: PaymentsPeerOptions;
  notifications?: NotificationsPeerOptions;
  /** Shipping needs Kafka: `brokers` or a `kafka` client. */
  shipping: ShippingPeerOptions;
  /** Given to every peer that was not given its own (each gets a child named after it).
   * @defaultValue a bunyan logger named dev-peers */
  logger?: Logger;
}

export interface Peers {
  catalog: CatalogPeer;
  payments: PaymentsPeer;
  notifications: NotificationsPeer;
  shipping: ShippingPeer;
  /** Stops all four; rejects naming each that failed to stop, after trying them all. */
  stop(): Promise<void>;
}

async function stopAll(peers: Array<{ stop(): Promise<void> }>): Promise<void> {
  const results = await Promise.allSettled(peers.map((p) => p.stop()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) {
    throw new AggregateError(
      failed.map((r) => r.reason),
      'development peers did not stop cleanly',
    );
  }
}

/** Starts the four together; when one fails to start, those already started are stopped. */
export async function startPeers(options: PeersOptions): Promise<Peers> {
  const logger = options.logger ?? createLogger({ name: 'dev-peers' });
  const child = (peer: string) => logger.child({ peer });
  const starting = [
    startCatalogPeer(options.catalog),
    startPaymentsPeer({ logger: child('payments'), ...options.payments }),
    startNotificationsPeer({ logger: child('notifications'), ...options.notifications }),
    startShippingPeer({ logger: child('shipping'), ...options.shipping }),
  ] as const;
  const results = await Promise.allSettled(starting);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length) {
    await stopAll(started).catch((err: unknown) =>
      logger.error({ err }, 'development peers did not stop cleanly after a failed start'),
    );
    throw failures.length === 1
      ? failures[0]!.reason
      : new AggregateError(
          failures.map((r) => r.reason),
          'development peers failed to start',
        );
  }
  const [catalog, payments, notifications, shipping] = await Promise.all(starting);
  return {
    catalog,
    payments,
    notifications,
    shipping,
    stop: () => stopAll([catalog, payments, notifications, shipping]),
  };
}

/** Every peer's options from the environment (CATALOG_PORT, 8001; the rest in each peer's
 * `…OptionsFromEnv`). */
export function peersOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = createLogger({ name: 'dev-peers' }),
): PeersOptions {
  return {
    catalog: { port: envInteger(env, 'CATALOG_PORT', 8001, { max: 65535 }) },
    payments: paymentsOptionsFromEnv(env),
    notifications: notificationsOptionsFromEnv(env),
    shipping: shippingOptionsFromEnv(env, logger.child({ peer: 'shipping' })),
    logger,
  };
}

if (isMain(import.meta.url)) {
  runUntilSignal(
    'development peers',
    () => {
      const logger = createLogger({ name: 'dev-peers', level: loadConfig().logLevel });
      return startPeers(peersOptionsFromEnv(process.env, logger));
    },
    ({ catalog, payments, notifications, shipping }) =>
      [
        'development peers (a development tool, not for production):',
        `  Catalog        ${catalog.url}  (GET / lists the items)`,
        `  Payments       ${payments.url}  (GET /payments lists what it recorded)`,
        `  Notifications  ${notifications.url}  (GET /notifications)`,
        `  Shipping       group ${shipping.groupId}: ${shipping.requestsTopic} → ` +
          `${shipping.responsesTopic}  (GET ${shipping.url}/shipments)`,
        'for the service:',
        `  CATALOG_SERVICE_API_URL=${catalog.url}/api/items`,
        `  PAYMENTS_SERVICE_API_URL=${payments.url}/api/payments`,
        `  NOTIFICATIONS_SERVICE_API_URL=${notifications.url}/api/notifications`,
      ].join('\n'),
  );
}
