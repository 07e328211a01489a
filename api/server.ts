import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Router } from 'express';
import type { Redis } from 'ioredis';
import { type Database } from '../db/client.js';
import { createQueues, type QueueSet } from '../jobs/queues.js';
import { registerQueueDepthGauge } from '../jobs/worker-metrics.js';
import { registerStateGauges } from '../db/state-gauges.js';
import { createMetrics, type Metrics } from '../lib/platform/metrics.js';
import { closeRedis, createRedis } from '../jobs/redis.js';
import { createCatalogClient } from '../lib/peers/catalog.js';
import type { Config } from '../lib/platform/config.js';
import type { Logger } from '../lib/platform/logger.js';
import { isMain } from '../lib/platform/main.js';
import { runProcess } from '../lib/platform/runner.js';
import { withinMs } from '../lib/platform/shutdown.js';
import { packageVersion } from '../lib/platform/version.js';
import { ADMIN_PATH, adminCredentials, adminRouter, basicAuth } from './admin.js';
import { createApp } from './app.js';
import { deadLettersRouter } from './routes/dead-letters.js';
import type { ReadinessChecks } from './routes/health.js';
import { PAYMENT_CALLBACK_PATH, paymentCallbackRouter } from './routes/payment-callback.js';

export interface WebDeps {
  logger: Logger;
  /** Reuse a pool (the all-in-one dev mode); otherwise the web process opens its own. */
  database: Database;
  /** Port to listen on; defaults to config.port. 0 picks a free one. */
  port?: number;
  /** Feature routers and readiness checks added by later wiring (webhook, admin, Redis). */
  routes?: { path: string; router: Router }[];
  readiness?: ReadinessChecks;
  onStop?: () => Promise<void>;
  /**
   * The queues Bull Board shows, when the caller already has them (the all-in-one dev mode); the
   * caller closes them. Otherwise the web process makes its own when the board is on.
   */
  queues?: QueueSet;
  /** Shared with other processes in this one (the dev mode); otherwise the web makes its own. */
  metrics?: Metrics;
}

/**
 * The web process's Redis: the board's producer-side queues when the board is on (or the caller's),
 * else one fail-fast connection for the readiness check alone. Made only when needed because a
 * BullMQ Queue writes its meta key on construction.
 */
function webRedis(config: Config, deps: WebDeps, boardOn: boolean) {
  const logger = deps.logger;
  const ownQueues = !deps.queues && boardOn ? createQueues(config, logger) : undefined;
  const queueSet = deps.queues ?? ownQueues;
  if (queueSet) {
    return { queueSet, connection: queueSet.connection, close: async () => ownQueues?.close() };
  }
  const connection = createRedis(config.redisUrl, 'producer', 'order-service:web', {
    verify: config.redisTlsVerify,
  });
  // ioredis emits 'error' on every failed reconnect; the readiness check reports Redis down.
  connection.on('error', (err) => logger.debug({ err }, 'redis connection error'));
  return { queueSet, connection, close: () => closeRedis(connection) };
}

/** Runs `step`; when it fails, releases what start-up had opened before passing the error on. */
async function closingOnFailure<T>(
  release: () => Promise<void>,
  step: () => Promise<T>,
): Promise<T> {
  try {
    return await step();
  } catch (err) {
    await release();
    throw err;
  }
}

/** Below the readiness check's own 2 s bound, so a slow connect reports as itself. */
const REDIS_READY_WAIT_MS = 1500;

async function pingRedis(connection: Redis): Promise<void> {
  // The fail-fast producer connection refuses commands until it is ready: just after start, or
  // during a reconnect, wait for it (a failed attempt's 'error' rejects at once) rather than
  // report a healthy Redis as down.
  if (connection.status !== 'ready') {
    await once(connection, 'ready', { signal: AbortSignal.timeout(REDIS_READY_WAIT_MS) });
  }
  await connection.ping();
}

export interface RunningWeb {
  port: number;
  stop(): Promise<void>;
}

export async function startWeb(config: Config, deps: WebDeps): Promise<RunningWeb> {
  const { logger } = deps;
  if (!config.catalogUrl) throw new Error('CATALOG_SERVICE_API_URL is required by the web process');
  const database = deps.database;
  const credentials = adminCredentials(config);
  const redis = webRedis(config, deps, credentials !== undefined);
  const catalog = createCatalogClient({
    baseUrl: config.catalogUrl,
    timeoutMs: config.peerTimeoutMs,
    token: config.serviceToken,
  });
  if (!config.paymentsWebhookSecret) {
    logger.warn('PAYMENTS_WEBHOOK_SECRET is not set: payment callbacks are accepted unsigned');
  }
  logger.info({ admin: credentials ? ADMIN_PATH : 'off' }, 'admin surface');

  const releaseResources = () => redis.close();
  const metrics = deps.metrics ?? createMetrics();
  registerStateGauges(metrics, database.db);
  if (redis.queueSet) registerQueueDepthGauge(metrics, redis.queueSet.queues);
  const app = await closingOnFailure(releaseResources, async () =>
    createApp({
      logger,
      metrics,
      // Metrics are internal: behind the admin credentials when they are set.
      metricsAuth: credentials && basicAuth(credentials, 'Order Service metrics'),
      db: database.db,
      catalog,
      readiness: {
        postgres: () => database.ping(),
        redis: () => pingRedis(redis.connection),
        ...deps.readiness,
      },
      routes: [
        {
          path: PAYMENT_CALLBACK_PATH,
          router: paymentCallbackRouter({
            db: database.db,
            webhookSecret: config.paymentsWebhookSecret,
          }),
        },
        ...(credentials && redis.queueSet
          ? [
              {
                path: ADMIN_PATH,
                router: adminRouter({
                  credentials,
                  queues: Object.values(redis.queueSet.queues),
                  routes: [{ path: '/dead-letters', router: deadLettersRouter(database.db) }],
                }),
              },
            ]
          : []),
        ...(deps.routes ?? []),
      ],
      version: packageVersion(),
    }),
  );
  const server = app.listen(deps.port ?? config.port);
  await closingOnFailure(releaseResources, () => once(server, 'listening'));
  // Behind Heroku's router idle keep-alive sockets are closed by the router at 55 s; stay above it.
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'web listening');

  return {
    port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await withinMs(closed, Math.max(1000, config.shutdownTimeoutMs - 2000), () => {
        logger.warn('requests still open at the shutdown bound; closing their connections');
        server.closeAllConnections();
      });
      try {
        await deps.onStop?.();
      } finally {
        await releaseResources();
      }
    },
  };
}

if (isMain(import.meta.url)) {
  runProcess({ name: 'web', start: ({ config, ...deps }) => startWeb(config, deps) });
}
