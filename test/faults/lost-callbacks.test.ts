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
 * Long enough that the check's answer, taken in through the inbox like a callback, is applied
 * within it on a busy machine.
 */
const CONFIRM_MS = 5000;
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
    // For each order whose callback was lost, from Payments accepting its request (by the
    // database's clock): until its check took the answer into the inbox, and until the order left
    // `new` (paid, or cancelled for a failed payment).
    const { rows } = await sys.db.pool.query<{ answered_ms: number; settled_ms: number }>(
      `select (extract(epoch from (select min(i.created_at) from inbox i
                                    where i.order_id = o.id and i.source = 'payments')
                                 - o.payment_accepted_at) * 1000)::float8 as answered_ms,
              (extract(epoch from (select min(h.created_at) from order_status_history h
                                    where h.order_id = o.id and h.status <> 'new')
                                 - o.payment_accepted_at) * 1000)::float8 as settled_ms
         from orders o where o.id = any($1::uuid[])`,
      [dropped.map((o) => o.id)],
    );
    const spread = (key: 'answered_ms' | 'settled_ms') => {
      const ms = rows
        .map((r) => r[key])
        .filter((v) => v !== null)
        .map(Number)
        .sort((a, b) => a - b);
      const at = (q: number) =>
        Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0);
      return { count: ms.length, median: at(0.5), max: Math.round(ms.at(-1) ?? 0) };
    };
    const answered = spread('answered_ms');
    const settled = spread('settled_ms');
    ctx.log(
      `${dropped.length} callbacks dropped; after Payments accepted them, their checks had the ` +
        `answer in ${answered.median} ms (median), ${answered.max} ms (slowest), and the orders ` +
        `left new in ${settled.median} ms (median), ${settled.max} ms (slowest)`,
    );
    return {
      ledger,
      facts: {
        callbacksDropped: dropped.length,
        droppedSettled: settled.count,
        droppedAnsweredMedianMs: answered.median,
        droppedAnsweredMaxMs: answered.max,
        droppedSettleMedianMs: settled.median,
        droppedSettleMaxMs: settled.max,
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
