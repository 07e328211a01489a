import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { type Database } from '../db/client.js';
import { type QueueSet } from '../jobs/outbox/queues.js';
import { registerQueueDepthGauge } from '../jobs/worker-metrics.js';
import { redisReadinessCheck } from '../jobs/redis.js';
import { registerStateGauges } from '../db/state-gauges.js';
import { createMetrics, type Metrics } from '../lib/platform/metrics.js';
import { createCatalogClient } from '../lib/peers/catalog.js';
import type { Config } from '../lib/platform/config.js';
import type { Logger } from '../lib/platform/logger.js';
import { isMain } from '../lib/platform/main.js';
import { runProcess } from '../lib/platform/runner.js';
import { withinMs } from '../lib/platform/timeout.js';
import { packageVersion } from '../lib/platform/version.js';
import { createKafka } from '../lib/kafka/client.js';
import { consumerLagReader } from '../lib/kafka/consumer-lag.js';
import { openWebRedis, pingRedis } from './web-redis.js';
import { ADMIN_PATH, adminCredentials } from './admin.js';
import { createApp } from './app.js';

/** Least time between two reads of the consumer lag for the console, as the consumer's gauge. */
const CONSOLE_LAG_INTERVAL_MS = 15_000;

export interface WebDeps {
  logger: Logger;
  /** Owned and closed by the caller (the process runner, the dev mode, tests). */
  database: Database;
  /** Port to listen on; defaults to config.port. 0 picks a free one. */
  port?: number;
  /**
   * The queues Bull Board shows, when the caller already has them (the all-in-one dev mode); the
   * caller closes them. Otherwise the web process makes its own when the board is on.
   */
  queues?: QueueSet;
  /** Shared with other processes in this one (the dev mode); otherwise the web makes its own. */
  metrics?: Metrics;
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
  const redis = openWebRedis(config, logger, deps.queues, credentials !== undefined);
  const catalog = createCatalogClient({
    baseUrl: config.catalogUrl,
    timeoutMs: config.peerTimeoutMs,
    token: config.serviceToken,
  });
  if (!config.paymentsWebhookSecret) {
    logger.warn('PAYMENTS_WEBHOOK_SECRET is not set: payment callbacks are accepted unsigned');
  }
  logger.info({ admin: credentials ? ADMIN_PATH : 'off' }, 'admin surface');

  const metrics = deps.metrics ?? createMetrics();
  registerStateGauges(metrics, database.db, {
    shippingAnswerAlertAfterMs: config.jobs.shippingAnswerAlertAfterMs,
  });
  if (redis.queueSet) registerQueueDepthGauge(metrics, redis.queueSet.shards);
  // The ops console's consumer lag: the reader behind the consumer's kafka_consumer_lag gauge,
  // asked only when the page is shown (connecting on its first read).
  const lag =
    credentials && config.kafka.brokers.length > 0
      ? consumerLagReader(createKafka(config.kafka, logger), {
          groupId: config.kafka.groupId,
          topic: config.kafka.responsesTopic,
          minIntervalMs: CONSOLE_LAG_INTERVAL_MS,
        })
      : undefined;
  let server: Server;
  try {
    const app = createApp({
      logger,
      metrics,
      db: database.db,
      catalog,
      webhookSecret: config.paymentsWebhookSecret,
      admin: credentials &&
        redis.queueSet && {
          credentials,
          queues: redis.queueSet.shards,
          failedAttempts: { limit: config.adminFailedAttemptsLimit },
          shippingAnswerAlertAfterMs: config.jobs.shippingAnswerAlertAfterMs,
          console: {
            groupActionIntervalMs: config.adminGroupRetryIntervalMs,
            consumerLag: lag && (() => lag.read()),
          },
          traceUrlTemplate: config.otelTraceUrlTemplate || undefined,
          allowPrivateWebhookUrls: config.webhookAllowPrivateUrls,
        },
      trustProxyHops: config.trustProxyHops,
      readiness: {
        postgres: () => database.ping(),
        redis: redisReadinessCheck(redis.connection, logger, () => pingRedis(redis.connection)),
      },
      version: packageVersion(),
    });
    server = app.listen(deps.port ?? config.port);
    await once(server, 'listening');
  } catch (err) {
    await lag?.close();
    await redis.close();
    throw err;
  }
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
      await lag
        ?.close()
        .catch((err: unknown) => logger.warn({ err }, 'could not close the Kafka admin client'));
      await redis.close();
    },
  };
}

if (isMain(import.meta.url)) {
  runProcess({ name: 'web', start: ({ config, ...deps }) => startWeb(config, deps) });
}
