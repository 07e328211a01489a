import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Logger } from '../lib/logger.js';
import * as schema from './schema.js';

export type Db = NodePgDatabase<typeof schema>;
/** A transaction handle; query modules accept either so callers compose them in one transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Executor = Db | Tx;

export interface Database {
  pool: pg.Pool;
  db: Db;
  /** One round trip: for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  max?: number;
  logger: Logger;
  /** Names the process in pg_stat_activity. */
  applicationName?: string;
}

// numeric comes back as a string already (exact); bigint (int8) as string too: parse counts as
// numbers where they are ids, which stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export function createDatabase({
  url,
  max = 10,
  logger,
  applicationName = 'order-service',
}: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    // A statement stuck behind a lock must not hold a request or job forever.
    statement_timeout: 15000,
  });
  // An idle client losing its connection (Postgres restart) emits here; without a listener the
  // process would crash. The pool replaces the client on next use.
  pool.on('error', (err) => logger.warn({ err }, 'idle postgres client error'));
  const db = drizzle(pool, { schema });
  return {
    pool,
    db,
    async ping() {
      await pool.query('select 1');
    },
    close: () => pool.end(),
  };
}
