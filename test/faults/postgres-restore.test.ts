import { expect } from 'chai';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ADMIN_URL, databaseUrl } from '../support/database.js';
import { waitFor } from '../support/recording-peer.js';
import { expectSettled } from './support/expect.js';
import { isClean } from './support/ledger.js';
import { postgresBin } from './support/postgres.js';
import { scenario } from './support/schedule.js';
import { ADMIN_HEADERS, startFaultSystem } from './support/system.js';

const run = promisify(execFile);

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * What restoring a backup does to the service: its database is, from one moment to the next, the
 * one in the backup. Restored beside it first, then swapped in under its name; the swap cuts every
 * connection (DROP ... WITH (FORCE)), and the processes' pools reconnect to the restored one.
 */
async function restore(name: string, backup: string): Promise<void> {
  const restoring = `${name}_restoring`;
  await admin(`CREATE DATABASE "${restoring}"`);
  await run(path.join(postgresBin(), 'pg_restore'), [
    '--no-owner',
    '-d',
    databaseUrl(restoring),
    backup,
  ]);
  await admin(`DROP DATABASE "${name}" WITH (FORCE)`);
  await admin(`ALTER DATABASE "${restoring}" RENAME TO "${name}"`);
}

const restored = scenario({
  id: '6',
  title: '6. Postgres restored from a backup, Redis kept',
  expectedSeconds: 45,
  async run(ctx) {
    // Production's reconciler timers (60 s / 30 s): new orders must not need it.
    const sys = await startFaultSystem(ctx);
    const { notifications } = sys.peers;

    const before = sys.send({ count: 100, perSecond: 10 });
    await before.done;
    const settled = await sys.ledger(before.accepted, 120_000);
    if (!isClean(settled)) throw new Error(`before the backup: ${settled.problems.join('; ')}`);
    const backup = path.join(ctx.dir, 'backup.dump');
    await run(path.join(postgresBin(), 'pg_dump'), ['-Fc', '-f', backup, '-d', sys.db.url]);
    ctx.log(`backup taken with ${before.accepted.length} orders done`);

    // Orders after the backup, rolled back by the restore; their notifications answered 503, so
    // Redis still holds their jobs, retrying, under outbox ids the restored database hands out
    // again.
    notifications.setFault({ status: 503 });
    const lost = sys.send({ count: 100, perSecond: 10 });
    await lost.done;
    const waiting = async () =>
      (
        await sys.db.pool.query<{ n: number }>(
          `select count(*)::int as n from outbox where queue = 'notifications' and attempts > 0
              and completed_at is null`,
        )
      ).rows[0]!.n;
    await waitFor(async () => (await waiting()) >= 50, {
      timeoutMs: 60_000,
      what: 'notification jobs of the later orders retrying',
    });
    ctx.log(`${await waiting()} notification jobs retrying; restoring the backup`);
    await restore(sys.db.name, backup);
    notifications.setFault(undefined);
    ctx.log('restored');

    const after = sys.send({ count: 100, perSecond: 10 });
    await after.done;
    const ledger = await sys.ledger([...before.accepted, ...after.accepted], 120_000);

    const { rows } = await sys.db.pool.query<{ kept: number; slowest: number }>(
      `select (select count(*) from orders where id = any($1::uuid[]))::int as kept,
              (select coalesce(max(extract(epoch from updated_at - created_at)), 0)
                 from orders where id = any($2::uuid[]))::float as slowest`,
      [lost.accepted.map((o) => o.id), after.accepted.map((o) => o.id)],
    );
    const board = await fetch(
      `${sys.url}/admin/queues/api/queues?activeQueue=notifications&status=failed&page=1&jobsPerPage=200`,
      { headers: ADMIN_HEADERS },
    );
    const { queues } = (await board.json()) as {
      queues: Array<{ name: string; jobs: Array<{ failedReason?: string }> }>;
    };
    const refusedJobs = queues
      .find((q) => q.name === 'notifications')!
      .jobs.filter((j) => j.failedReason?.includes('belongs to another outbox row')).length;
    return {
      ledger,
      facts: {
        rolledBack: lost.accepted.length - rows[0]!.kept,
        laterOrdersKept: rows[0]!.kept,
        slowestNewOrderS: Math.round(rows[0]!.slowest * 10) / 10,
        staleJobsRefused: refusedJobs,
        refused: before.refused.length + after.refused.length,
        unanswered: before.unanswered.length + after.unanswered.length,
      },
    };
  },
});

describe('fault scenario 6: Postgres restored from a backup while Redis keeps its jobs', function () {
  this.timeout(15 * 60_000);

  it('when the database goes back to a backup while Redis keeps the later jobs, then new orders go through at once, those jobs touch nothing, and every order in the restored database and after it ends as expected with every effect once', async () => {
    const outcome = await restored.outcome();
    const { facts } = outcome;

    expect(facts.laterOrdersKept, 'orders after the backup still there').to.equal(0);
    // At once: well inside the reconciler's 60 s, so nothing waited for it.
    expect(facts.slowestNewOrderS, 'slowest new order to its final state, s').to.be.below(20);
    expectSettled(outcome);
  });
});
