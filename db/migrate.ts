import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { release } from '../lib/platform/config/release.js';
import type { Logger } from '../lib/platform/logger.js';
import { directDatabaseUrl } from '../lib/platform/config.js';
import { isMain } from '../lib/platform/main.js';
import { runTask } from '../lib/platform/runner.js';
import { applyMigrations, type MigratorResult } from './migrator.js';

/** Same folder from source (tsx) and from dist/, where the build copies the SQL files. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));

// Any constant shared by all release processes of this service; chosen once, never changed.
const MIGRATION_LOCK_KEY = 727_001;

/** How often a release that found another one migrating tries the lock again. */
const LOCK_POLL_MS = 500;

/**
 * Takes the release's advisory lock, waiting for a release that holds it. It polls with
 * pg_try_advisory_lock rather than waiting inside pg_advisory_lock: a session waiting there is in
 * a statement, and a concurrent index build of the release that holds the lock waits for every
 * statement older than itself to end, so the two would wait for each other (deadlock detected).
 */
async function takeReleaseLock(client: pg.Client, logger: Logger): Promise<void> {
  for (let waiting = false; ; waiting = true) {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS locked',
      [MIGRATION_LOCK_KEY],
    );
    if (rows[0]?.locked === true) return;
    if (!waiting) logger.info('another release is migrating; waiting for it to finish');
    await sleep(LOCK_POLL_MS);
  }
}

/** Pauses between the tries of a statement that met lock_timeout (MIGRATION_LOCK_ATTEMPTS says so). */
const LOCK_RETRY_BACKOFF = { minMs: 500, maxMs: 15_000 };

export interface ReleaseOptions {
  /** drizzle-kit's output folder. @defaultValue MIGRATIONS_FOLDER */
  folder?: string;
  /** @defaultValue MIGRATION_LOCK_TIMEOUT_MS's default */
  lockTimeoutMs?: number;
  /** @defaultValue MIGRATION_LOCK_ATTEMPTS's default */
  lockAttempts?: number;
  /** Pauses between the tries of a statement that met lock_timeout. */
  backoff?: { minMs: number; maxMs: number };
}

/**
 * Applies the committed drizzle-kit migrations without stopping intake (db/migrator.ts). Two
 * releases at once (two release phases, or web dynos started with migrate-on-boot) must not
 * interleave their statements, so it runs under a session advisory lock on one dedicated
 * connection: a second release waits for it (takeReleaseLock), then finds nothing pending. The
 * release is given a direct connection (DATABASE_DIRECT_URL): behind transaction pooling the
 * unlock could reach another server connection than the lock did, and the lock would stay held.
 */
export async function runMigrations(
  databaseUrl: string,
  logger: Logger,
  options: ReleaseOptions = {},
): Promise<MigratorResult> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'order-service-migrate',
  });
  await client.connect();
  try {
    await client.query('SET client_min_messages = warning');
    await takeReleaseLock(client, logger);
    try {
      const started = Date.now();
      const result = await applyMigrations(
        client,
        {
          folder: options.folder ?? MIGRATIONS_FOLDER,
          lockTimeoutMs: options.lockTimeoutMs ?? release.variables.migrationLockTimeoutMs.default!,
          lockAttempts: options.lockAttempts ?? release.variables.migrationLockAttempts.default!,
          backoff: options.backoff ?? LOCK_RETRY_BACKOFF,
        },
        logger,
      );
      logger.info(
        {
          ms: Date.now() - started,
          applied: result.applied.length,
          lockRetries: result.lockRetries,
        },
        'migrations applied',
      );
      return result;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

if (isMain(import.meta.url)) {
  // An argument names another drizzle-kit folder (a test's copy with an extra migration).
  runTask('release', ({ config, logger }) =>
    runMigrations(directDatabaseUrl(config), logger, {
      folder: process.argv[2] ?? MIGRATIONS_FOLDER,
      lockTimeoutMs: config.migrationLockTimeoutMs,
      lockAttempts: config.migrationLockAttempts,
    }).then(() => undefined),
  );
}
