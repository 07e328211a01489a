import { expect } from 'chai';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createQueues } from '../../jobs/outbox/queues.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { ADMIN_URL, countRows, databaseUrl } from '../../scripts/testkit/database.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { isClean, readLedger } from './support/ledger.js';
import { plannedOrder, type AcceptedOrder } from './support/load.js';
import { postgresBin } from './support/postgres.js';
import { scenario, type ScenarioContext } from './support/schedule.js';
import { ADMIN_HEADERS, startFaultSystem, type FaultSystem } from './support/system.js';

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

/**
 * Payment checks (asking Payments what became of a payment once an order has stayed `new` this
 * long) are the only thing that can heal an order whose payment callback was taken in after the
 * backup: the restored database has it `new`, its payment request done, and Payments has nothing
 * more to send. Short, so they are checked within the scenario; longer than setting up the orders
 * and taking the backup, so none is checked before it.
 */
const PAYMENT_CONFIRM_AFTER_MS = '30000';

/** Orders accepted before the backup whose payment or shipping comes after it, by kind. */
interface Straddlers {
  /** Paid before, their shipping request held in its queue until after: shipped (or refused,
   * cancelled and refunded) after. Restored `paid`, their shipping row open. */
  shippedAfter: AcceptedOrder[];
  /** Payments answered 503 until after the backup: paid (or failed) and shipped after. Restored
   * `new`, their payment row open. */
  paymentRetried: AcceptedOrder[];
  /** Payments took the payment before the backup; its callback came after. Restored `new` with
   * the payment request done: only a payment check moves them. Set up before the 503s of
   * `paymentRetried`, which would refuse their payments too. */
  callbackAfter: AcceptedOrder[];
}

const count = (sys: FaultSystem, sql: string, ids: string[]): Promise<number> =>
  countRows(sys.db.pool, sql, [ids]);

/**
 * Puts orders in flight across the moment the backup is taken, and returns them with what lets
 * them go on (called right after the backup). Each kind is held by a fault at the peer or a
 * paused queue, so that the backup finds it half-way, whatever the machine's speed.
 */
async function straddleTheBackup(
  ctx: ScenarioContext,
  sys: FaultSystem,
): Promise<Straddlers & { release(): Promise<void> }> {
  const { payments } = sys.peers;
  const ids = (orders: AcceptedOrder[]) => orders.map((o) => o.id);
  const { queues, close } = createQueues(loadConfig(sys.env), silentLogger());
  ctx.defer(close);

  await queues.shipping.pause();
  // Every path but a failed payment: these are to be paid before the backup.
  const shipping = sys.send({
    count: 20,
    perSecond: 10,
    plan: (i) => plannedOrder(i % 10 === 3 ? 4 : i),
  });
  await shipping.done;
  await waitFor(
    async () =>
      (await count(
        sys,
        `select count(*)::int as n from outbox
          where queue = 'shipping' and order_id = any($1::uuid[]) and dispatched_at is not null`,
        ids(shipping.accepted),
      )) === shipping.accepted.length,
    { timeoutMs: 60_000, what: 'shipping requests of the paid orders waiting in their queue' },
  );

  payments.pauseCallbacks();
  const held = sys.send({ count: 10, perSecond: 10 });
  await held.done;
  await waitFor(
    async () =>
      (await count(
        sys,
        `select count(*)::int as n from outbox
          where queue = 'payments' and order_id = any($1::uuid[]) and completed_at is not null`,
        ids(held.accepted),
      )) === held.accepted.length,
    { timeoutMs: 60_000, what: 'payments taken, their callbacks held' },
  );

  payments.setFault({ status: 503 });
  const retried = sys.send({ count: 20, perSecond: 10 });
  await retried.done;
  await waitFor(
    async () =>
      (await count(
        sys,
        `select count(*)::int as n from outbox
          where queue = 'payments' and order_id = any($1::uuid[]) and attempts > 0
            and completed_at is null`,
        ids(retried.accepted),
      )) === retried.accepted.length,
    { timeoutMs: 60_000, what: 'payment requests answered 503 and retrying' },
  );

  return {
    shippedAfter: shipping.accepted,
    paymentRetried: retried.accepted,
    callbackAfter: held.accepted,
    async release() {
      payments.setFault(undefined);
      payments.resumeCallbacks();
      await queues.shipping.resume();
    },
  };
}

const restored = scenario({
  id: '6',
  title: '6. Postgres restored from a backup, Redis kept',
  expectedSeconds: 180,
  async run(ctx) {
    // Production's reconciler timers (60 s / 30 s): new orders must not need it.
    const sys = await startFaultSystem(ctx, {
      env: { PAYMENT_CONFIRM_AFTER_MS },
    });
    const { notifications } = sys.peers;

    const before = sys.send({ count: 100, perSecond: 10 });
    await before.done;
    const settled = await sys.ledger(before.accepted, 120_000);
    if (!isClean(settled)) throw new Error(`before the backup: ${settled.problems.join('; ')}`);
    const straddlers = await straddleTheBackup(ctx, sys);
    const backup = path.join(ctx.dir, 'backup.dump');
    await run(path.join(postgresBin(), 'pg_dump'), ['-Fc', '-f', backup, '-d', sys.db.url]);
    ctx.log(`backup taken with ${before.accepted.length} orders done and straddlers in flight`);
    await straddlers.release();
    const { shippedAfter, paymentRetried, callbackAfter } = straddlers;
    const straddling = [...shippedAfter, ...paymentRetried, ...callbackAfter];
    // Their true final states, reached after the backup: what the restore rolls back.
    const reached = await sys.ledger(straddling, 120_000);
    if (!isClean(reached)) {
      throw new Error(`straddlers after the backup: ${reached.problems.join('; ')}`);
    }
    ctx.log(`${straddling.length} orders straddling the backup reached their final states`);

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
    const restoredAt = Date.now();
    ctx.log('restored');
    const final = `status in ('shipped', 'cancelled') and (refund_status is null or refund_status = 'refunded')`;
    const unfinished = await count(
      sys,
      `select count(*)::int as n from orders where id = any($1::uuid[]) and not (${final})`,
      straddling.map((o) => o.id),
    );

    const after = sys.send({ count: 100, perSecond: 10 });
    await after.done;
    // Straddlers re-send what the restore undid: the reconciler (60 s) finds their open rows,
    // and the payment checks ask Payments about the ones left `new` with nothing open.
    const ledger = await sys.ledger(
      [...before.accepted, ...after.accepted, ...straddling],
      240_000,
    );
    const balancedS = Math.round((Date.now() - restoredAt) / 1000);
    ctx.log(
      `ledger ${isClean(ledger) ? 'balanced' : 'NOT balanced'} ${balancedS} s after the restore`,
    );
    const callbackLost = await readLedger({
      pool: sys.db.pool,
      peers: sys.peers,
      webhooks: sys.webhooks,
      orders: callbackAfter,
    });

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
    const stillNew = await count(
      sys,
      `select count(*)::int as n from orders where id = any($1::uuid[]) and status = 'new'`,
      callbackAfter.map((o) => o.id),
    );
    return {
      ledger,
      facts: {
        straddlers: straddling.length,
        straddlersRestoredUnfinished: unfinished,
        balancedAfterRestoreS: balancedS,
        callbackAfterOrders: callbackAfter.length,
        callbackAfterStillNew: stillNew,
        callbackAfterBalanced: isClean(callbackLost),
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
    // Each came back half-way (new or paid): the ledger's clean verdict covers them re-done.
    expect(facts.straddlersRestoredUnfinished, 'straddlers restored unfinished').to.equal(
      facts.straddlers,
    );
    // At once: well inside the reconciler's 60 s, so nothing waited for it.
    expect(facts.slowestNewOrderS, 'slowest new order to its final state, s').to.be.below(20);
    expectSettled(outcome);
  });

  it('when an order whose payment was taken before the backup had its callback only after it, then a payment check brings it to its final state with every effect once', async () => {
    const { facts } = await restored.outcome();

    expect(facts.callbackAfterOrders, 'orders whose callback came after the backup').to.be.above(0);
    expect(facts.callbackAfterStillNew, 'of them still new').to.equal(0);
    expect(facts.callbackAfterBalanced, 'their own ledger clean').to.equal(true);
  });
});
