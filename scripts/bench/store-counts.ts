/**
 * What an order costs the stores, read at the servers before and after a run: Redis's commands
 * (INFO commandstats, which counts the commands BullMQ's Lua scripts run inside Redis as well as
 * the script calls themselves), and Postgres's transactions, row writes and WAL. These are the figures a
 * capacity model multiplies by the order rate.
 *
 * Both servers count every client's work, so the figures are right only on a quiet machine, which
 * the bench asks for anyway. Postgres's statistics reach pg_stat_database when a backend goes idle
 * (at most about a second late), and the bench reads them after every order is final and the
 * service has gone quiet, so little is missed; the WAL position is exact.
 */
import { Redis } from 'ioredis';
import type pg from 'pg';

export interface StoreCounts {
  /** Calls per command, those run inside Lua scripts included (INFO commandstats). */
  redisCalls: Record<string, number>;
  pgTransactions: number;
  /** Rows inserted, updated and deleted. */
  pgRowWrites: number;
  /** pg_current_wal_lsn() in bytes. */
  walBytes: number;
  /** The service's round trips to Postgres by process (see pg-round-trips.ts); undefined when not counted. */
  pgRoundTrips?: Record<string, number>;
}

export interface StoreCost {
  /** Every command Redis ran, those inside Lua scripts included. */
  redisCommands: number;
  /** EVAL, EVALSHA and FCALL calls: BullMQ's scripts. */
  redisScriptCalls: number;
  /** The commands Redis ran most, most first. */
  redisTop: { command: string; calls: number }[];
  pgTransactions: number;
  pgRowWrites: number;
  walBytes: number;
  /** The service's round trips, and by process (those running at both readings). */
  pgRoundTrips?: number;
  pgRoundTripsByProcess?: Record<string, number>;
}

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

/** `cmdstat_evalsha:calls=12,usec=…` lines into calls per command (`client|list` kept whole). */
export function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
  return calls;
}

export async function readStoreCounts(
  redisUrl: string,
  pool: pg.Pool,
  database: string,
  pgRoundTrips?: () => Promise<Record<string, number> | undefined>,
): Promise<StoreCounts | undefined> {
  // No ready check: it would send an INFO of its own and skew the count.
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableReadyCheck: false,
  });
  try {
    await redis.connect();
    const info = await redis.info('commandstats');
    const { rows } = await pool.query<{ xacts: string; writes: string; wal: string }>(
      `select xact_commit + xact_rollback as xacts,
              tup_inserted + tup_updated + tup_deleted as writes,
              pg_current_wal_lsn() - '0/0'::pg_lsn as wal
         from pg_stat_database where datname = $1`,
      [database],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      redisCalls: parseCommandStats(info),
      pgTransactions: Number(row.xacts),
      pgRowWrites: Number(row.writes),
      walBytes: Number(row.wal),
      pgRoundTrips: await pgRoundTrips?.(),
    };
  } catch (err) {
    // A diagnostic only: the run's pass or fail never depends on it, and the report says "n/a".
    process.stderr.write(`bench: store counts unreadable: ${(err as Error).message}\n`);
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/** after − before; the reading's own INFO (one command) and query (one transaction) left out. */
export function storeCostSince(before: StoreCounts, after: StoreCounts): StoreCost {
  const calls: Record<string, number> = {};
  for (const [command, n] of Object.entries(after.redisCalls)) {
    const d = n - (before.redisCalls[command] ?? 0);
    if (d > 0) calls[command] = d;
  }
  if (calls.info) calls.info -= 1;
  const redisCommands = Object.values(calls).reduce((a, b) => a + b, 0);
  return {
    redisCommands,
    redisScriptCalls: Object.entries(calls)
      .filter(([command]) => SCRIPT_COMMANDS.has(command))
      .reduce((a, [, n]) => a + n, 0),
    redisTop: Object.entries(calls)
      .map(([command, n]) => ({ command, calls: n }))
      .sort((a, b) => b.calls - a.calls)
      .slice(0, 8),
    pgTransactions: after.pgTransactions - before.pgTransactions - 1,
    pgRowWrites: after.pgRowWrites - before.pgRowWrites,
    walBytes: after.walBytes - before.walBytes,
    ...roundTripsSince(before.pgRoundTrips, after.pgRoundTrips),
  };
}

function roundTripsSince(
  before: Record<string, number> | undefined,
  after: Record<string, number> | undefined,
): Pick<StoreCost, 'pgRoundTrips' | 'pgRoundTripsByProcess'> {
  if (!before || !after) return {};
  const byProcess: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) {
    if (before[name] !== undefined) byProcess[name] = n - before[name];
  }
  return {
    pgRoundTrips: Object.values(byProcess).reduce((a, b) => a + b, 0),
    pgRoundTripsByProcess: byProcess,
  };
}
