/**
 * Postgres crash-stopped under load, 10 s down, started again: scenario 3 with the service on
 * Postgres itself, scenario 12 with it behind PgBouncer in transaction pooling.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { STICKER } from '../../support/factories.js';
import { waitFor } from '../../../scripts/testkit/wait.js';
import { unaccepted, type Attempt } from './load.js';
import { startProbe } from './probe.js';
import { startPrivatePostgres } from './postgres.js';
import type { ScenarioContext, ScenarioOutcome } from './schedule.js';
import { startFaultSystem } from './system.js';

/** How long Postgres stays down: long enough for a few hundred requests to meet it. */
const DOWN_MS = 10_000;

function percentile(attempts: Attempt[], p: number): number {
  const ms = attempts.map((a) => a.ms).sort((a, b) => a - b);
  return ms.length ? ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]! : 0;
}

export async function restartPostgresUnderLoad(
  ctx: ScenarioContext,
  { throughPgBouncer = false } = {},
): Promise<ScenarioOutcome> {
  const postgres = await startPrivatePostgres();
  ctx.defer(() => postgres.destroy());
  const sys = await startFaultSystem(ctx, {
    postgresAdminUrl: postgres.adminUrl,
    throughPgBouncer,
  });
  const load = sys.send({ count: 300, perSecond: 5 });

  await waitFor(() => load.accepted.length >= 100, { timeoutMs: 60_000, what: '100 orders' });
  await postgres.stop('immediate');
  ctx.log(`Postgres stopped (immediate) at ${load.accepted.length} orders`);
  // A client that asks all the while Postgres is down (and only then, so its orders are all
  // refused and none needs tracking).
  const probe = startProbe(sys.url, load.accepted[0]!.id, STICKER.id);
  await sleep(DOWN_MS);
  const whileDown = await probe.stop();
  await postgres.start();
  ctx.log(`Postgres started again; ${whileDown.length} requests answered while it was down`);

  const hung = load.attempts.filter((a) => a.outcome === 'timeout');
  const ledger = await sys.settle(load, 240_000);
  const transactions: Record<string, number> = sys.pgbouncer
    ? { transactionsThroughPgBouncer: await transactionsThrough(sys.pgbouncer, sys.db.name) }
    : {};
  return {
    ledger,
    facts: {
      requestsWhileDown: whileDown.length,
      postsWhileDown: whileDown.filter((a) => a.method === 'POST').length,
      answered503WhileDown: whileDown.filter((a) => a.outcome === 503).length,
      withRetryAfter: whileDown.filter((a) => a.retryAfter !== null).length,
      medianWhileDownMs: percentile(whileDown, 0.5),
      p99WhileDownMs: percentile(whileDown, 0.99),
      slowestWhileDownMs: percentile(whileDown, 1),
      hung: hung.length,
      ...transactions,
      ...unaccepted(load),
    },
  };
}

async function transactionsThrough(
  pgbouncer: { show(what: 'STATS'): Promise<Record<string, unknown>[]> },
  database: string,
): Promise<number> {
  const stats = await pgbouncer.show('STATS');
  return Number(stats.find((s) => s.database === database)?.total_xact_count ?? 0);
}
