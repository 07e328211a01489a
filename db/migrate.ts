import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../lib/platform/logger.js';
import { directDatabaseUrl } from '../lib/platform/config.js';
import { isMain } from '../lib/platform/main.js';
import { runTask } from '../lib/platform/runner.js';

/** Same folder from source (tsx) and from dist/, where the build copies the SQL files. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));

// Any constant shared by all release processes of this service; chosen once, never changed.
const MIGRATION_LOCK_KEY = 727_001;

/**
 * Applies the committed drizzle-kit migrations. drizzle's migrator has no guard against two
 * processes at once (two release phases, or web dynos started with migrate-on-boot), so it runs
 * under a session advisory lock on one dedicated connection: a direct one (DATABASE_DIRECT_URL),
 * since behind transaction pooling the unlock could reach another server connection than the
 * lock did, and the lock would stay held.
 */
export async function runMigrations(databaseUrl: string, logger: Logger): Promise<void> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'order-service-migrate',
  });
  await client.connect();
  try {
    await client.query('SET client_min_messages = warning');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const started = Date.now();
      await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
      logger.info({ ms: Date.now() - started }, 'migrations applied');
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

if (isMain(import.meta.url)) {
  runTask('release', ({ config, logger }) => runMigrations(directDatabaseUrl(config), logger));
}
