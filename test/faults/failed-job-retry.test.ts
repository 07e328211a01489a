import { expect } from 'chai';
import { STICKER, orderBody } from '../support/factories.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { plannedOrder, type PlannedOrder, unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { ADMIN_HEADERS, startFaultSystem } from './support/system.js';
import { outboxJobId } from '../../jobs/outbox/job-data.js';

/** The cause: Payments refuses every charge of this amount (7 stickers), as a 400. */
const REFUSED_AMOUNT = '0.70';

/** The usual mix, with one order in ten for 7 stickers. */
function plan(i: number): PlannedOrder {
  if (i % 10 === 5)
    return { body: orderBody({ item_id: STICKER.id, quantity: 7 }), expect: 'shipped' };
  return plannedOrder(i);
}

const retried = scenario({
  id: '7',
  title: '7. a job failed for good (400), retried through Bull Board once fixed',
  expectedSeconds: 35,
  async run(ctx) {
    const sys = await startFaultSystem(ctx);
    const { payments } = sys.peers;
    payments.setFault({
      status: 400,
      matches: (body) => (body as { amount?: unknown } | undefined)?.amount === REFUSED_AMOUNT,
    });
    const load = sys.send({ count: 200, perSecond: 8, plan });
    await load.done;
    const refusedOrders = load.accepted.filter((o) => o.body.quantity === 7).map((o) => o.id);

    // Failed for good: each refused payment's row failed at its first attempt, the rest done.
    const failedRows = async () =>
      (
        await sys.db.pool.query<{ job_id: string; attempts: number; last_error: string }>(
          `select job_id, attempts, last_error from outbox
            where queue = 'payments' and failed_at is not null and order_id = any($1::uuid[])`,
          [refusedOrders],
        )
      ).rows;
    await waitFor(async () => (await failedRows()).length === refusedOrders.length, {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'the refused payments to fail for good',
    });
    const failed = await failedRows();
    const listing = await fetch(
      `${sys.url}/admin/queues/api/queues?activeQueue=payments&status=failed&page=1&jobsPerPage=100`,
      { headers: ADMIN_HEADERS },
    );
    const { queues } = (await listing.json()) as {
      queues: Array<{ name: string; jobs: Array<{ id: string; failedReason?: string }> }>;
    };
    const shown = queues.find((q) => q.name === 'payments')!.jobs;
    ctx.log(`${failed.length} payments failed for good; Bull Board shows ${shown.length}`);

    // The cause is fixed; ops retry each failed job through Bull Board's API.
    payments.setFault(undefined);
    const answers = await Promise.all(
      failed.map(async (row) => {
        const res = await fetch(
          `${sys.url}/admin/queues/api/queues/payments/${outboxJobId(row.job_id)}/retry`,
          { method: 'PUT', headers: ADMIN_HEADERS },
        );
        return res.status;
      }),
    );
    ctx.log(`retried ${answers.length} jobs through Bull Board`);
    const ledger = await sys.ledger(load.accepted, 120_000);
    return {
      ledger,
      facts: {
        ordersRefusedByPayments: refusedOrders.length,
        failedForGood: failed.length,
        failedAtFirstAttempt: failed.filter((r) => r.attempts === 1).length,
        failedReasonsNamed400: failed.filter((r) => r.last_error.includes('answered 400')).length,
        shownFailedInBoard: shown.filter((j) => j.failedReason?.includes('answered 400')).length,
        retriesAccepted: answers.filter((s) => s === 204).length,
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 7: a job that fails for good, retried from Bull Board', function () {
  this.timeout(15 * 60_000);

  it('when Payments refuses some charges with a 400, then those jobs fail at once with the reason, and Bull Board shows them', async () => {
    const { facts } = await retried.outcome();

    expect(facts.ordersRefusedByPayments).to.be.greaterThan(0);
    expect(facts.failedForGood).to.equal(facts.ordersRefusedByPayments);
    expect(facts.failedAtFirstAttempt).to.equal(facts.failedForGood);
    expect(facts.failedReasonsNamed400).to.equal(facts.failedForGood);
    expect(facts.shownFailedInBoard).to.equal(facts.failedForGood);
  });

  it('when the cause is fixed and each job is retried through Bull Board, then it completes, its order ships, and its payment happened once', async () => {
    const outcome = await retried.outcome();
    const { facts } = outcome;

    expect(facts.retriesAccepted).to.equal(facts.failedForGood);
    expectSettled(outcome);
  });
});
