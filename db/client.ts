import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Logger } from '../lib/platform/logger.js';
import { isDatabaseUnavailable } from '../lib/platform/postgres-errors.js';
import { withinMs } from '../lib/platform/timeout.js';
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

const CLOSE_TIMEOUT_MS = 3000;

export interface DatabaseOptions {
  url: string;
  max?: number;
  logger: Logger;
  /** Names the process in pg_stat_activity. */
  applicationName?: string;
  /**
   * db/statement.ts's statements as named prepared statements (parsed and planned once per
   * connection); false sends them unnamed, for a pooler that hands each transaction another
   * server connection (PgBouncer before 1.21 in transaction pooling). @defaultValue true
   */
  preparedStatements?: boolean;
}

// numeric comes back as a string already (exact); bigint (int8) as string too: parse counts as
// numbers where they are ids, which stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

/** The node-postgres handle under a Db or Tx, and whether statements on it may be named. */
export interface PgHandle {
  pg: pg.Pool | pg.PoolClient;
  preparedStatements: boolean;
}

/**
 * The node-postgres handle under each Db and Tx this module made (the pool, or a transaction's
 * client): db/statement.ts runs its statements on it directly, without drizzle's query
 * builder. Weak, so a finished transaction's entry goes with it.
 */
const pgHandles = new WeakMap<object, PgHandle>();

/** The pool or client under `ex`; undefined for a handle made elsewhere (a nested transaction). */
export function pgHandleOf(ex: Executor): PgHandle | undefined {
  return pgHandles.get(ex);
}

/**
 * drizzle's pool transactions (0.45) send BEGIN before their try/finally, so a BEGIN that fails
 * (the connection was cut: Postgres restarting, a terminated backend) never releases its client,
 * and each such failure shrinks the pool for good. This runs the same drizzle transaction on a
 * client checked out and released here, always, and destroyed when its connection broke.
 */
function leakFreeTransaction(pool: pg.Pool, preparedStatements: boolean): Db['transaction'] {
  return (work, config) =>
    withPooledClient(pool, (client) =>
      drizzleOn(client, preparedStatements).transaction((tx) => {
        pgHandles.set(tx, { pg: client, preparedStatements });
        return work(tx);
      }, config),
    );
}

/**
 * Runs `use` on a client checked out of `pool`, and always gives it back: destroyed, not reused,
 * when its connection broke or when `use` says so through `markBroken` (a client that could not
 * even roll back).
 */
async function withPooledClient<T>(
  pool: pg.Pool,
  use: (client: pg.PoolClient, markBroken: (err: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    return await use(client, (err) => {
      broken = err;
    });
  } catch (err) {
    if (isDatabaseUnavailable(err)) broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

/** One drizzle instance per pooled connection, made on its first use. */
const perClient = new WeakMap<pg.PoolClient, Db>();
function drizzleOn(client: pg.PoolClient, preparedStatements: boolean): Db {
  let db = perClient.get(client);
  if (!db) {
    db = drizzle(client, { schema });
    perClient.set(client, db);
    pgHandles.set(db, { pg: client, preparedStatements });
  }
  return db;
}

/**
 * A transaction whose BEGIN travels with its first statement: one round trip instead of two (the
 * relay opens one per batch, several per order). `first` goes over the simple query protocol,
 * which takes no parameters: give it only text the code controls (constants, validated integers).
 * `work` gets the first statement's rows and the transaction; it commits when `work` resolves and
 * rolls back when anything throws.
 */
export async function transactionOpenedWith<R, T>(
  db: Db,
  first: string,
  work: (rows: R[], tx: Executor) => Promise<T>,
): Promise<T> {
  const handle = pgHandles.get(db);
  const pool = handle?.pg;
  if (!handle || !(pool instanceof pg.Pool)) {
    // A handle this module did not make: BEGIN and the statement apart.
    return db.transaction(async (tx) => work((await tx.execute(sql.raw(first))).rows as R[], tx));
  }
  return withPooledClient(pool, async (client, markBroken) => {
    try {
      // Two statements in one simple query: node-postgres answers with one result per statement.
      const results = (await client.query(`begin; ${first}`)) as unknown as pg.QueryResult[];
      const out = await work(results[1]!.rows as R[], drizzleOn(client, handle.preparedStatements));
      await client.query('commit');
      return out;
    } catch (err) {
      // After BEGIN went out, whatever failed leaves a transaction open or aborted: end it. A
      // client that cannot even roll back is not given back to the pool as it is.
      await client
        .query('rollback')
        .catch((rollbackErr: unknown) => markBroken(rollbackErr as Error));
      throw err;
    }
  });
}

export function createDatabase({
  url,
  max = 10,
  logger,
  applicationName = 'order-service',
  preparedStatements = true,
}: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    // A statement stuck behind a lock must not hold a request or job forever. Sent in the
    // startup packet, which PgBouncer refuses unless told to ignore it: behind one, the timeout
    // is the role's (docs/scaling.md).
    statement_timeout: 15000,
  });
  // An idle client losing its connection (Postgres restart) emits here; without a listener the
  // process would crash. The pool replaces the client on next use.
  pool.on('error', (err) => logger.warn({ err }, 'idle postgres client error'));
  // The pool listens for errors only while a client is idle. A client checked out between two
  // statements (inside a transaction, say) that loses its connection (Postgres restarting, a
  // terminated backend) would emit 'error' with no listener and crash the process; its next
  // query fails instead, and the pool drops it on release.
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.warn({ err }, 'postgres connection lost'));
  });
  const db = drizzle(pool, { schema });
  db.transaction = leakFreeTransaction(pool, preparedStatements);
  pgHandles.set(db, { pg: pool, preparedStatements });
  return {
    pool,
    db,
    async ping() {
      await pool.query('select 1');
    },
    // pool.end() waits for every checked-out client; one that never comes back must not hold a
    // shutdown past its bound (the process is exiting: its sockets go with it).
    close: () =>
      withinMs(pool.end(), CLOSE_TIMEOUT_MS, () =>
        logger.warn(
          { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount },
          'postgres pool not closed in time: clients still checked out',
        ),
      ),
  };
}
