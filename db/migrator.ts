/**
 * Applies drizzle-kit's migrations while the old processes keep serving (docs/scaling.md,
 * Releases). drizzle's own migrator runs every pending file in one transaction: each lock a
 * statement takes is held until the last file is done, and `CREATE INDEX CONCURRENTLY` cannot run
 * at all. This one keeps drizzle's files, journal and history table (`drizzle-kit generate` and
 * databases migrated by drizzle's migrator stay valid) and changes only how they run:
 *
 * - statement by statement (drizzle-kit's `--> statement-breakpoint`), each in a transaction of
 *   its own with `SET LOCAL lock_timeout`: one that cannot get its lock in time is rolled back
 *   and tried again after a pause, instead of queueing every query on its table behind it;
 * - `… CONCURRENTLY` (and VACUUM) outside a transaction, with no lock_timeout: they take no lock
 *   that stops reads or writes, and they wait for older transactions, which is no fault;
 * - each statement's progress recorded with it, so a release stopped halfway resumes at the
 *   statement that did not finish, never re-running one that did. A concurrent index build that
 *   was interrupted leaves an INVALID index behind (`IF NOT EXISTS` would then keep the broken
 *   one): it is dropped and built again;
 * - a migration is recorded in drizzle's table once all its statements ran. What is pending is
 *   decided as drizzle decides it: every file of the journal newer than the last recorded one.
 */
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../lib/platform/logger.js';
import { isLockNotAvailable } from '../lib/platform/postgres-errors.js';
import { retry, type Backoff } from '../lib/platform/retry.js';

export interface MigratorOptions {
  /** drizzle-kit's output folder: `meta/_journal.json` and one `.sql` file per entry. */
  folder: string;
  /** lock_timeout of each statement run in a transaction, in ms. */
  lockTimeoutMs: number;
  /** Tries of a statement that keeps meeting lock_timeout before the release fails. */
  lockAttempts: number;
  /** Pauses between those tries. */
  backoff: Backoff;
}

export interface MigratorResult {
  /** The journal tags of the migrations applied by this run, in order. */
  applied: string[];
  /** Statements that met lock_timeout and were tried again. */
  lockRetries: number;
}

// drizzle's schema and history table (drizzle-orm pg-core/dialect.js `migrate`), so that the
// history of a database migrated by drizzle's migrator stays the history.
const HISTORY = 'drizzle.__drizzle_migrations';
// Ours: how far a migration that has not finished got. Keyed by the migration's journal time, its
// identity in drizzle's journal and history.
const PROGRESS = 'drizzle.migration_progress';

/** Statements Postgres refuses inside a transaction block. */
const OUTSIDE_TRANSACTION =
  /^\s*(?:(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX)\b[^;]*?\bCONCURRENTLY\b|VACUUM\b)/i;
const IDENTIFIER = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const CONCURRENT_INDEX = new RegExp(
  String.raw`^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(${IDENTIFIER}(?:\.${IDENTIFIER})?)\s+ON\b`,
  'i',
);

/** The SQL with its comments blanked out, to tell what kind of statement it is. */
function withoutComments(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ');
}

/** Whether Postgres refuses `sql` inside a transaction block (a concurrent index build, VACUUM). */
export function runsOutsideTransaction(sql: string): boolean {
  return OUTSIDE_TRANSACTION.test(withoutComments(sql));
}

/**
 * The name (as written, quotes and all) of the index a `CREATE INDEX CONCURRENTLY` builds;
 * undefined for any other statement. Throws for an unnamed one: without a name, a build
 * interrupted halfway could not be found and cleaned up.
 */
export function concurrentIndexName(sql: string): string | undefined {
  const bare = withoutComments(sql);
  if (!/^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\b/i.test(bare)) return undefined;
  const match = CONCURRENT_INDEX.exec(bare);
  if (!match) {
    throw new Error(
      `an index built CONCURRENTLY needs an explicit name (to rebuild it if a build is interrupted): ${bare.trim().slice(0, 200)}`,
    );
  }
  return match[1]!;
}

/** The journal's tag (the file name without `.sql`) of each migration, by its journal time. */
function tagsByTime(folder: string): Map<number, string> {
  const journal = JSON.parse(readFileSync(path.join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: Array<{ when: number; tag: string }>;
  };
  return new Map(journal.entries.map((e) => [e.when, e.tag]));
}

async function inTransaction(client: pg.Client, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await work();
    await client.query('COMMIT');
  } catch (err) {
    // The statement's own error is the one worth reporting; a failed ROLLBACK (connection gone)
    // adds nothing to it, and the session ends with the release anyway.
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function recordProgress(
  client: pg.Client,
  migration: MigrationMeta,
  statementsDone: number,
): Promise<void> {
  await client.query(
    `INSERT INTO ${PROGRESS} (created_at, hash, statements_done) VALUES ($1, $2, $3)
     ON CONFLICT (created_at) DO UPDATE SET hash = EXCLUDED.hash, statements_done = EXCLUDED.statements_done`,
    [migration.folderMillis, migration.hash, statementsDone],
  );
}

/**
 * Runs a concurrent index build, first dropping an INVALID index of the same name that an
 * interrupted build left behind; an index of that name that is valid counts as built.
 */
async function runConcurrent(
  client: pg.Client,
  sql: string,
  logger: Logger,
  where: Record<string, unknown>,
): Promise<void> {
  const index = concurrentIndexName(sql);
  if (index !== undefined) {
    const { rows } = await client.query<{ valid: boolean }>(
      'SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)',
      [index],
    );
    if (rows[0]?.valid === true) {
      logger.info({ ...where, index }, 'migration: index already built, statement skipped');
      return;
    }
    if (rows[0]) {
      logger.warn({ ...where, index }, 'migration: an interrupted build left the index invalid');
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
    }
  }
  await client.query(sql);
}

async function applyOne(
  client: pg.Client,
  migration: MigrationMeta,
  tag: string,
  options: MigratorOptions,
  logger: Logger,
): Promise<number> {
  const { rows } = await client.query<{ statements_done: number }>(
    `SELECT statements_done FROM ${PROGRESS} WHERE created_at = $1`,
    [migration.folderMillis],
  );
  const resumeAt = rows[0]?.statements_done ?? 0;
  if (resumeAt > 0) {
    logger.warn(
      { migration: tag, statementsDone: resumeAt },
      'migration: resuming a release that stopped halfway',
    );
  }
  let lockRetries = 0;
  const started = Date.now();
  for (let i = resumeAt; i < migration.sql.length; i++) {
    const sql = migration.sql[i]!;
    if (withoutComments(sql).trim() === '') continue;
    const where = { migration: tag, statement: i + 1, of: migration.sql.length };
    if (runsOutsideTransaction(sql)) {
      await runConcurrent(client, sql, logger, where);
      await recordProgress(client, migration, i + 1);
      continue;
    }
    await retry(
      () =>
        inTransaction(client, async () => {
          // SET LOCAL takes no parameters; the value is a validated integer.
          await client.query(`SET LOCAL lock_timeout = ${Math.trunc(options.lockTimeoutMs)}`);
          await client.query(sql);
          await recordProgress(client, migration, i + 1);
        }),
      {
        backoff: options.backoff,
        retries: options.lockAttempts - 1,
        permanent: (err) => !isLockNotAvailable(err),
        onRetry: (_err, attempt) => {
          lockRetries++;
          logger.warn(
            { ...where, attempt, lockTimeoutMs: options.lockTimeoutMs },
            'migration: statement did not get its lock in time; trying again after a pause',
          );
        },
      },
    );
  }
  await inTransaction(client, async () => {
    await client.query(`INSERT INTO ${HISTORY} (hash, created_at) VALUES ($1, $2)`, [
      migration.hash,
      migration.folderMillis,
    ]);
    await client.query(`DELETE FROM ${PROGRESS} WHERE created_at = $1`, [migration.folderMillis]);
  });
  logger.info({ migration: tag, ms: Date.now() - started, lockRetries }, 'migration applied');
  return lockRetries;
}

/**
 * Applies the pending migrations of `options.folder` on `client`, a session of its own (the
 * caller holds the release's advisory lock on it).
 */
export async function applyMigrations(
  client: pg.Client,
  options: MigratorOptions,
  logger: Logger,
): Promise<MigratorResult> {
  const migrations = readMigrationFiles({ migrationsFolder: options.folder });
  const tags = tagsByTime(options.folder);
  await client.query('CREATE SCHEMA IF NOT EXISTS drizzle');
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${HISTORY} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
  );
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${PROGRESS} (created_at bigint PRIMARY KEY, hash text NOT NULL, statements_done integer NOT NULL)`,
  );
  const last = await client.query<{ created_at: string }>(
    `SELECT created_at FROM ${HISTORY} ORDER BY created_at DESC LIMIT 1`,
  );
  const lastApplied = last.rows[0] ? Number(last.rows[0].created_at) : Number.NEGATIVE_INFINITY;
  const result: MigratorResult = { applied: [], lockRetries: 0 };
  for (const migration of migrations) {
    if (migration.folderMillis <= lastApplied) continue;
    const tag = tags.get(migration.folderMillis) ?? String(migration.folderMillis);
    result.lockRetries += await applyOne(client, migration, tag, options, logger);
    result.applied.push(tag);
  }
  return result;
}
