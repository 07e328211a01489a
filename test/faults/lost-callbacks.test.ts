import { expect } from 'chai';
import { expectSettled } from './support/expect.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** The "Payments drops 20 % of its callbacks". */
const DROP_RATE = 0.2;
/**
 * PAYMENT_CONFIRM_AFTER_MS shortened from 10 min so the scenario takes a minute; the wait between
 * checks starts at the same length (capped here at it too), so "one backoff" is this long again.
 */
const CONFIRM_MS = 3000;
const BACKOFF_MS = CONFIRM_MS;

const lostCallbacks = scenario({
  id: '10',
  title: '10. Payments drops 20 % of its payment callbacks',
  expectedSeconds: 70,
  async run(ctx) {
    const sys = await startFaultSystem(ctx, {
      env: {
        PAYMENT_CONFIRM_AFTER_MS: String(CONFIRM_MS),
        PAYMENT_CHECK_MAX_INTERVAL_MS: String(BACKOFF_MS),
      },
      // Seeded, so FAULTS_SEED replays which callbacks were lost.
      peers: { payments: { dropCallback: () => ctx.random() < DROP_RATE } },
    });
    const load = sys.send({ count: 300, perSecond: 8 });
    const ledger = await sys.settle(load, 120_000);

    const { payments } = sys.peers;
    const dropped = load.accepted.filter((o) =>
      payments.recorded({ order_id: o.id }).callbacks.some((c) => c.delivery === 'dropped'),
    );
    // For each order whose callback was lost: from Payments accepting its request to the order
    // leaving `new` (paid, or cancelled for a failed payment), by the database's clock.
    const { rows } = await sys.db.pool.query<{ ms: number }>(
      `select (extract(epoch from min(h.created_at) - o.payment_accepted_at) * 1000)::float8 as ms
         from orders o join order_status_history h on h.order_id = o.id and h.status <> 'new'
        where o.id = any($1::uuid[])
        group by o.id, o.payment_accepted_at`,
      [dropped.map((o) => o.id)],
    );
    const settleMs = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    const slowest = Math.round(settleMs.at(-1) ?? 0);
    const median = Math.round(settleMs[Math.floor(settleMs.length / 2)] ?? 0);
    ctx.log(
      `${dropped.length} callbacks dropped; those orders left new ${median} ms (median), ` +
        `${slowest} ms (slowest) after Payments accepted them`,
    );
    return {
      ledger,
      facts: {
        callbacksDropped: dropped.length,
        droppedSettled: settleMs.length,
        droppedSettleMedianMs: median,
        droppedSettleMaxMs: slowest,
        statusChecks: payments.recorded().status_checks,
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 10: lost payment callbacks', function () {
  this.timeout(10 * 60_000);

  it('when Payments drops 20 % of its callbacks, then each of those orders is settled by its payment check within PAYMENT_CONFIRM_AFTER_MS plus one backoff', async () => {
    const { facts } = await lostCallbacks.outcome();

    expect(facts.callbacksDropped, 'callbacks dropped').to.be.greaterThan(0);
    expect(facts.droppedSettled, 'orders with a dropped callback that left new').to.equal(
      facts.callbacksDropped,
    );
    expect(facts.statusChecks, 'status checks Payments answered').to.be.at.least(
      Number(facts.callbacksDropped),
    );
    expect(facts.droppedSettleMaxMs).to.be.below(CONFIRM_MS + BACKOFF_MS);
  });

  it('when every order has settled, then every final state is right, nothing is lost and nothing applied twice', async () => {
    const outcome = await lostCallbacks.outcome();

    expectSettled(outcome);
  });
});
