import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { readLedger } from './support/ledger.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';
import { TAKEN } from './support/webhook-receiver.js';

/** The "a subscriber down for 10 minutes": literal unless shortened for a local try. */
const OUTAGE_MS = Number(process.env.FAULTS_WEBHOOK_OUTAGE_MS ?? 600_000);
/**
 * The cap on one retry delay, shortened from production's 60 s (JOB_BACKOFF_MAX_MS) so the
 * scenario ends soon after the outage: a delivery waiting for its order's earlier event looks
 * again about one capped delay later, so an order's remaining events follow each other within
 * about a cap each once the subscriber is back. The retry window stays production's 24 h.
 */
const BACKOFF_MAX_MS = 15_000;
/** Every path's events (80 % shipped, 10 % payment failed, 10 % refunded), in under a minute. */
const ORDERS = 80;
const PER_SECOND = 2;

const subscriberOutage = scenario({
  id: '14',
  title: '14. a webhook subscriber down 10 min (503, then refusing connections)',
  // Starting the system, the outage, then an order's last events a few capped delays apart.
  expectedSeconds: 40 + OUTAGE_MS / 1000 + 60,
  async run(ctx) {
    const sys = await startFaultSystem(ctx, {
      webhooks: true,
      env: { JOB_BACKOFF_MAX_MS: String(BACKOFF_MAX_MS) },
    });
    const receiver = sys.webhooks!;
    const { pool } = sys.db;
    receiver.answer(503);
    const downAt = Date.now();
    const recoversAt = downAt + OUTAGE_MS;
    ctx.log(`subscriber answers 503, then refuses connections: ${OUTAGE_MS / 1000} s in all`);
    const load = sys.send({ count: ORDERS, perSecond: PER_SECOND });
    await load.done;

    // The order flow does not wait for the subscriber: every order reaches its final state with
    // every other effect once, and nothing but webhooks stays open.
    const openElsewhere = async () =>
      (
        await pool.query<{ n: number }>(
          `select count(*)::int as n from outbox
            where queue <> 'webhooks' and completed_at is null`,
        )
      ).rows[0]!.n;
    let flow = await readLedger({ pool, peers: sys.peers, webhooks: null, orders: load.accepted });
    let flowSettled = false;
    await waitFor(
      async () => {
        flow = await readLedger({ pool, peers: sys.peers, webhooks: null, orders: load.accepted });
        return (
          flow.finalStatesCorrect === flow.orders &&
          flow.effectsLost === 0 &&
          flow.duplicatesApplied === 0 &&
          flow.unexpectedEffects === 0 &&
          flow.unprocessedInbox === 0 &&
          (await openElsewhere()) === 0
        );
      },
      {
        timeoutMs: Math.max(0, recoversAt - 5000 - Date.now()),
        intervalMs: 1000,
        what: 'orders to settle',
      },
    ).then(
      () => (flowSettled = true),
      (err: Error) => ctx.log(`${err.message}: ${flow.problems.slice(0, 5).join('; ')}`),
    );
    const flowSettledS = Math.round((Date.now() - downAt) / 1000);
    const { rows: slow } = await pool.query<{ slowest: number; shipped: number }>(
      `select coalesce(max(extract(epoch from updated_at - created_at)), 0)::float8 as slowest,
              count(*) filter (where status = 'shipped')::int as shipped
         from orders where id = any($1::uuid[])`,
      [load.accepted.map((o) => o.id)],
    );
    const takenDuringOutage = receiver.deliveries().filter((d) => d.status === TAKEN).length;
    ctx.log(
      `orders ${flowSettled ? '' : 'NOT '}settled ${flowSettledS} s into the outage ` +
        `(${slow[0]!.shipped} shipped), ` +
        `${takenDuringOutage} webhooks taken; waiting out the outage`,
    );
    ctx.quiet();

    // The outage's length and halves are the scenario's subject, not guesses at how long
    // something takes. Its second half is a server gone: each attempt meets a refused connection.
    await sleep(Math.max(0, downAt + OUTAGE_MS / 2 - Date.now()));
    await receiver.refuseConnections();
    const answered503 = receiver.deliveries().length;
    ctx.log(`${answered503} attempts answered 503; now refusing connections`);
    await sleep(Math.max(0, recoversAt - 2000 - Date.now()));
    const { rows: before } = await pool.query<{
      waiting: number;
      failed: number;
      attempts: number;
      active: boolean;
    }>(
      `select (select count(*) from outbox where queue = 'webhooks' and completed_at is null
                 and failed_at is null)::int as waiting,
              (select count(*) from outbox where queue = 'webhooks' and failed_at is not null)::int
                 as failed,
              (select count(*) from webhook_deliveries where outcome = 'failed')::int as attempts,
              (select active from webhook_subscriptions where id = $1) as active`,
      [receiver.subscriptionId],
    );
    const refused = before[0]!.attempts - answered503;
    ctx.log(
      `just before recovery: ${before[0]!.waiting} deliveries waiting, ` +
        `${refused} attempts met a refused connection`,
    );
    await sleep(Math.max(0, recoversAt - Date.now()));
    receiver.answer(TAKEN);
    await receiver.acceptConnections();
    const ledger = await sys.ledger(load.accepted, 8 * BACKOFF_MAX_MS + 120_000);
    const settledAfterRecoveryS = Math.round((Date.now() - recoversAt) / 1000);
    ctx.log(`ledger settled ${settledAfterRecoveryS} s after the subscriber recovered`);

    return {
      ledger,
      facts: {
        outageS: OUTAGE_MS / 1000,
        flowSettledDuringOutage: flowSettled,
        flowSettledS,
        slowestOrderS: Math.round(slow[0]!.slowest * 10) / 10,
        shippedDuringOutage: slow[0]!.shipped,
        toShip: load.accepted.filter((o) => o.expect === 'shipped').length,
        webhooksTakenDuringOutage: takenDuringOutage,
        webhooksWaitingAtRecovery: before[0]!.waiting,
        webhooksFailedDuringOutage: before[0]!.failed,
        attempts503: answered503,
        attemptsConnectionRefused: refused,
        attemptsRecordedFailed: before[0]!.attempts,
        subscriptionActiveAtRecovery: before[0]!.active,
        settledAfterRecoveryS,
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 14: a webhook subscriber down for 10 minutes', function () {
  this.timeout(20 * 60_000);

  it('when the subscriber answers 503 for 5 minutes and then refuses connections for 5 while orders come in, then the orders still ship and settle meanwhile, and no delivery is given up nor the subscription disabled', async () => {
    const { ledger, facts } = await subscriberOutage.outcome();

    expect(facts.flowSettledDuringOutage, 'orders settled while the subscriber was down').to.equal(
      true,
    );
    expect(facts.flowSettledS, 'seconds into the outage').to.be.below(OUTAGE_MS / 1000);
    expect(facts.shippedDuringOutage, 'orders shipped during the outage').to.equal(facts.toShip);
    expect(facts.webhooksTakenDuringOutage, 'webhooks taken while down').to.equal(0);
    // Every order's first event was tried, most of them many times, in each half of the outage;
    // every attempt is recorded as failed, a refused connection too.
    expect(facts.attempts503, 'delivery attempts answered 503').to.be.at.least(ledger.orders);
    expect(facts.attemptsConnectionRefused, 'attempts refused a connection').to.be.at.least(
      ledger.orders,
    );
    expect(facts.webhooksWaitingAtRecovery, 'deliveries still waiting').to.equal(ledger.webhooks);
    expect(facts.webhooksFailedDuringOutage, 'deliveries given up').to.equal(0);
    expect(facts.subscriptionActiveAtRecovery, 'subscription still active').to.equal(true);
  });

  it('when the subscriber answers again, then it gets every event of every order once after dedupe, signed, in order per order, within a few capped retry delays', async () => {
    const outcome = await subscriberOutage.outcome();

    expectSettled(outcome);
    expect(outcome.facts.settledAfterRecoveryS).to.be.below((6 * BACKOFF_MAX_MS) / 1000 + 60);
  });
});
