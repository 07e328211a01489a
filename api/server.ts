import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Router } from 'express';
import { createDatabase, type Database } from '../db/client.js';
import { createOrdersStore } from '../db/orders.js';
import { createCatalogClient } from '../lib/catalog.js';
import { loadConfigOrExit, type Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { isMain } from '../lib/main.js';
import { exitOnSignals, withinMs } from '../lib/shutdown.js';
import { packageVersion } from '../lib/version.js';
import { createApp } from './app.js';
import type { ReadinessChecks } from './routes/health.js';

export interface WebDeps {
  logger: Logger;
  /** Reuse a pool (the all-in-one dev mode); otherwise the web process opens its own. */
  database?: Database;
  /** Port to listen on; defaults to config.port. 0 picks a free one. */
  port?: number;
  /** Feature routers and readiness checks added by later wiring (webhook, admin, Redis). */
  routes?: { path: string; router: Router }[];
  readiness?: ReadinessChecks;
  onStop?: () => Promise<void>;
}

export interface RunningWeb {
  port: number;
  stop(): Promise<void>;
}

export async function startWeb(config: Config, deps: WebDeps): Promise<RunningWeb> {
  const { logger } = deps;
  if (!config.catalogUrl) throw new Error('CATALOG_SERVICE_API_URL is required by the web process');
  const database =
    deps.database ?? createDatabase({ url: config.databaseUrl, max: config.dbPoolMax, logger });
  const app = createApp({
    logger,
    orders: createOrdersStore(database.db),
    catalog: createCatalogClient({
      baseUrl: config.catalogUrl,
      timeoutMs: config.peerTimeoutMs,
      token: config.serviceToken,
    }),
    readiness: {
      postgres: async () => {
        await database.pool.query('select 1');
      },
      ...deps.readiness,
    },
    routes: deps.routes,
    version: packageVersion(),
  });
  const server = app.listen(deps.port ?? config.port);
  await once(server, 'listening');
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
      await deps.onStop?.();
      if (!deps.database) await database.close();
    },
  };
}

if (isMain(import.meta.url)) {
  const config = loadConfigOrExit();
  const logger = createLogger({ name: 'web', level: config.logLevel });
  startWeb(config, { logger }).then(
    (web) => exitOnSignals(() => web.stop(), config.shutdownTimeoutMs, logger),
    (err: unknown) => {
      logger.fatal({ err }, 'web failed to start');
      process.exit(1);
    },
  );
}
