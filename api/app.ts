import express, { type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import swaggerUi from 'swagger-ui-express';
import type { Db } from '../db/client.js';
import type { Catalog } from '../lib/peers/catalog.js';
import type { Logger } from '../lib/platform/logger.js';
import type { Metrics } from '../lib/platform/metrics.js';
import { errorHandler, notFoundRoute } from './errors.js';
import { buildOpenApi } from './openapi.js';
import { requestContext, requireJson } from './request-context.js';
import { healthRouter, type ReadinessChecks } from './routes/health.js';
import { ordersRouter } from './routes/orders.js';
import { deadLettersRouter } from './routes/dead-letters.js';
import { PAYMENT_CALLBACK_PATH, paymentCallbackRoutes } from './routes/payment-callback.js';
import { ADMIN_PATH, adminRouter, BOARD_PATH, type AdminCredentials } from './admin.js';
import { adminGuard } from './admin-guard.js';
import { journeyRouter } from './routes/journey.js';
import { consoleRouter } from './routes/console.js';
import type { PartitionLag } from '../lib/kafka/consumer-lag.js';
import {
  WEBHOOK_SUBSCRIPTIONS_PATH,
  webhookSubscriptionsRouter,
} from './routes/webhook-subscriptions.js';
import { allQueues, type ShardedQueues } from '../jobs/outbox/queues.js';

export const BODY_LIMIT = '16kb';

export interface AppDeps {
  logger: Logger;
  db: Db;
  catalog: Catalog;
  readiness: ReadinessChecks;
  version?: string;
  /** Prometheus metrics; served at /metrics, behind `metricsAuth` when given. */
  metrics?: Metrics;
  /** Standard Webhooks secret of the payment callback; unset, callbacks are taken unsigned. */
  webhookSecret?: string;
  /** Bull Board and dead letters behind these credentials, which also guard /metrics. Off when
   * absent. `failedAttempts` overrides the limit on failed attempts (api/admin-guard.ts). */
  admin?: {
    credentials: AdminCredentials;
    /** Every shard of every queue is shown in Bull Board. */
    queues: ShardedQueues;
    failedAttempts?: { limit?: number; windowMs?: number };
    /** SHIPPING_ANSWER_ALERT_AFTER_MS: past it an order is listed at /admin/orders/waiting. */
    shippingAnswerAlertAfterMs: number;
    /** The ops console (api/routes/console.ts): its group-action interval, the consumer lag. */
    console: { groupActionIntervalMs: number; consumerLag?: () => Promise<PartitionLag[]> };
    /** OTEL_TRACE_URL_TEMPLATE: the journey page links to the order's trace. */
    traceUrlTemplate?: string;
    /** WEBHOOK_ALLOW_PRIVATE_URLS: the subscriptions API takes loopback and private URLs. */
    allowPrivateWebhookUrls: boolean;
  };
  /**
   * Proxies in front of the app that append to X-Forwarded-For (TRUST_PROXY_HOPS). The client IP
   * (what the admin failure limit counts by) is taken that many hops back; never `true`, which
   * would believe whatever the client wrote there.
   */
  trustProxyHops: number;
  /**
   * Routers of later features, mounted before the orders routes (so a fixed path such as
   * `/api/v1/orders/payment-callback` wins over `/:id`) and before the 404 handler.
   */
  routes?: { path: string; router: Router }[];
}

declare module 'http' {
  interface IncomingMessage {
    /** The exact bytes of a JSON body, for signature checks. */
    rawBody?: Buffer;
  }
}

/** The express app; no listening, no process concerns (api/server.ts does those). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxyHops);
  app.use(requestContext(deps.logger, deps.metrics));
  app.use(helmet());
  app.use(requireJson);
  app.use(
    express.json({
      limit: BODY_LIMIT,
      verify: (req, _res, buf) => {
        req.rawBody = buf;
      },
    }),
  );

  app.use('/health', healthRouter(deps.readiness, deps.logger));
  // One guard for every admin route, so failed attempts anywhere count against one budget.
  const guard: RequestHandler[] = deps.admin
    ? adminGuard(deps.admin.credentials, { logger: deps.logger, ...deps.admin.failedAttempts })
    : [];
  if (deps.metrics) {
    const { registry } = deps.metrics;
    // Metrics are internal: behind the admin credentials when they are set.
    app.get('/metrics', ...guard, async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    });
  }
  const openapi = buildOpenApi(deps.version ?? '0.0.0');
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use(
    '/api/docs',
    swaggerUi.serve,
    swaggerUi.setup(openapi, { customSiteTitle: 'Order Service API' }),
  );
  // Fixed paths first, so `/api/v1/orders/payment-callback` is not taken for an order id.
  const callback = paymentCallbackRoutes({ db: deps.db, webhookSecret: deps.webhookSecret });
  app.use(PAYMENT_CALLBACK_PATH, callback.router, callback.parseErrors);
  if (deps.admin) {
    const router = adminRouter({
      guard,
      queues: allQueues(deps.admin.queues),
      routes: [
        {
          path: '/',
          router: consoleRouter({
            db: deps.db,
            queues: deps.admin.queues,
            metrics: deps.metrics,
            consumerLag: deps.admin.console.consumerLag,
            shippingAnswerAlertAfterMs: deps.admin.shippingAnswerAlertAfterMs,
            groupActionIntervalMs: deps.admin.console.groupActionIntervalMs,
            boardPath: BOARD_PATH,
            logger: deps.logger,
          }),
        },
        { path: '/dead-letters', router: deadLettersRouter(deps.db) },
        {
          path: '/orders',
          router: journeyRouter(deps.db, deps.admin.queues, BOARD_PATH, {
            shippingAnswerAlertAfterMs: deps.admin.shippingAnswerAlertAfterMs,
            traceUrlTemplate: deps.admin.traceUrlTemplate,
          }),
        },
      ],
    });
    app.use(ADMIN_PATH, router);
    // Client systems' subscriptions are admin business too: the same guard, and off with it.
    app.use(
      WEBHOOK_SUBSCRIPTIONS_PATH,
      ...guard,
      webhookSubscriptionsRouter({
        db: deps.db,
        allowPrivateUrls: deps.admin.allowPrivateWebhookUrls,
      }),
    );
  }
  for (const { path, router } of deps.routes ?? []) app.use(path, router);
  app.use('/api/v1/orders', ordersRouter({ db: deps.db, catalog: deps.catalog }));

  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger));
  return app;
}
