import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, type Database } from '../../db/client.js';
import { runMigrations } from '../../db/migrate.js';
import { silentLogger } from '../../lib/platform/logger.js';

export const ADMIN_URL =
  process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase extends Database {
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, adminUrl = ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** What a counting query answers as `n` in its first row (`select count(*) as n from …`). */
export async function countRows(
  pool: pg.Pool,
  sql: string,
  params: unknown[] = [],
): Promise<number> {
  const { rows } = await pool.query<{ n: string | number }>(sql, params);
  return Number(rows[0]!.n);
}

export function databaseUrl(name: string, adminUrl = ADMIN_URL): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A fresh database for one test file, migrated with the real migrations; on the run's Postgres,
 * or on the server `adminUrl` reaches (a private one that a test stops and starts).
 */
export async function createTestDatabase(
  label = 'test',
  adminUrl = ADMIN_URL,
): Promise<TestDatabase> {
  const name = `os_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`), adminUrl);
  const url = databaseUrl(name, adminUrl);
  await runMigrations(url, silentLogger());
  const database = createDatabase({ url, max: 10, logger: silentLogger() });
  let dropped = false;
  return {
    ...database,
    url,
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await database.close().catch(() => undefined);
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`), adminUrl);
    },
  };
}
