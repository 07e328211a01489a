/**
 * `npm run dev`: the whole service in one process for development. Migrates (creating the
 * database if needed), starts development peers for every peer URL that is not configured, and
 * runs the web process, with readable logs. Ctrl-C stops everything.
 */
import { existsSync } from 'node:fs';
import { startWeb } from '../api/server.js';
import { runMigrations } from '../db/migrate.js';
import { loadConfigOrExit } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startCatalogPeer, DEMO_ITEMS } from './peers/catalog.js';
import { ensureDatabase } from './dev/ensure-database.js';
import { prettyStream } from './dev/pretty-stream.js';

if (existsSync('.env')) process.loadEnvFile('.env');

const stops: (() => Promise<void>)[] = [];

async function main() {
  const env = { ...process.env };
  const out = prettyStream();
  const level = (env.LOG_LEVEL as 'info' | undefined) ?? 'info';
  const logger = createLogger({ name: 'dev', level, out });

  if (!env.CATALOG_SERVICE_API_URL) {
    const catalog = await startCatalogPeer({ port: Number(env.CATALOG_PORT ?? 0) });
    stops.unshift(() => catalog.stop());
    env.CATALOG_SERVICE_API_URL = `${catalog.url}/api/items`;
    logger.info({ url: catalog.url }, 'development Catalog started');
  }

  const config = loadConfigOrExit(env);
  if (await ensureDatabase(config.databaseUrl)) logger.info('database created');
  await runMigrations(config.databaseUrl, logger);

  const web = await startWeb(config, { logger: createLogger({ name: 'web', level, out }) });
  stops.unshift(() => web.stop());

  const base = `http://127.0.0.1:${web.port}`;
  const item = DEMO_ITEMS[0]!;
  process.stdout.write(`
  Order Service (development mode)
    API          ${base}/api/v1/orders
    Swagger UI   ${base}/api/docs
    Catalog      ${config.catalogUrl}   (GET its root to list the demo items)

  Create an order:
    curl -s -X POST ${base}/api/v1/orders -H 'content-type: application/json' \\
      -d '{"item_id":"${item.id}","quantity":2,"user_id":"demo-user","idempotency_key":"'$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)'"}'
  Follow it:
    curl -s ${base}/api/v1/orders/<id>

`);
}

async function stopAll(code: number) {
  for (const stop of stops) {
    try {
      await stop();
    } catch (err) {
      process.stderr.write(`stopping failed: ${(err as Error).message}\n`);
      code = 1;
    }
  }
  process.exit(code);
}

process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));
main().catch((err: unknown) => {
  process.stderr.write(
    `development mode failed to start: ${(err as Error).stack ?? String(err)}\n`,
  );
  void stopAll(1);
});
