import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectBalanced } from './support/expect.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** The "Payments answers 503 for 5 minutes": literal unless shortened for a local try. */
const PAYMENTS_DOWN_MS = Number(process.env.FAULTS_PAYMENTS_OUTAGE_MS ?? 300_000);
/** Notifications first times out (answers after the service's 3 s bound), then says 429. */
const NOTIFICATIONS_TIMEOUT_MS = 60_000;
const NOTIFICATIONS_429_MS = 60_000;
const RETRY_AFTER_S = 5;
/** The production cap on one retry delay (JOB_BACKOFF_MAX_MS's default), which this scenario keeps. */
const BACKOFF_MAX_MS = 60_000;

const peerOutages = scenario({
  id: '5',
  title: '5. Payments 503 for 5 min; Notifications times out, then 429 with Retry-After',
  expectedSeconds: PAYMENTS_DOWN_MS / 1000 + 120,
  async run(ctx) {
    // The production retry settings (500 ms doubling to 60 s, a 24 h window): the point is that
    // they heal a five-minute outage with nobody touching anything.
    const sys = await startFaultSystem(ctx);
    const { payments, notifications } = sys.peers;
    const startedAt = Date.now();
    payments.setFault({ status: 503, forMs: PAYMENTS_DOWN_MS });
    notifications.setFault({ delayMs: 4000, forMs: NOTIFICATIONS_TIMEOUT_MS });
    const load = sys.send({ count: 300, perSecond: 5 });

    // The faults' lengths are the scenario's subject, not guesses at how long something takes.
    await sleep(NOTIFICATIONS_TIMEOUT_MS);
    const timeouts = notifications.faulted;
    notifications.setFault({
      status: 429,
      headers: { 'retry-after': String(RETRY_AFTER_S) },
      forMs: NOTIFICATIONS_429_MS,
    });
    ctx.log(`Notifications: ${timeouts} requests timed out; now 429, Retry-After ${RETRY_AFTER_S}`);
    await sleep(NOTIFICATIONS_429_MS);
    const tooMany = notifications.faulted - timeouts;
    ctx.log(`Notifications: ${tooMany} answered 429; healthy again`);
    await load.done;

    const recoversAt = startedAt + PAYMENTS_DOWN_MS;
    await sleep(Math.max(0, recoversAt - 2000 - Date.now()));
    // Just before Payments recovers: no order moved (each needs its payment's answer first), and
    // no row was given up.
    const { rows } = await sys.db.pool.query<{ moved: number; failed: number }>(
      `select (select count(*) from orders where status <> 'new')::int as moved,
              (select count(*) from outbox where failed_at is not null)::int as failed`,
    );
    const paymentsRefused = payments.faulted;
    ctx.log(
      `Payments answered 503 ${paymentsRefused} times; recovering with ` +
        `${load.accepted.length} orders waiting`,
    );
    await sleep(Math.max(0, recoversAt - Date.now()));
    const ledger = await sys.ledger(load.accepted, BACKOFF_MAX_MS + 120_000);
    const recoveredInS = Math.round((Date.now() - recoversAt) / 1000);
    ctx.log(`ledger settled ${recoveredInS} s after Payments recovered`);
    return {
      ledger,
      facts: {
        payments503: paymentsRefused,
        notificationTimeouts: timeouts,
        notifications429: tooMany,
        movedDuringOutage: rows[0]!.moved,
        failedDuringOutage: rows[0]!.failed,
        settledAfterRecoveryS: recoveredInS,
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 5: peers down, slow and rate-limiting', function () {
  this.timeout(20 * 60_000);

  it('when Payments answers 503 for 5 minutes while Notifications times out and then answers 429 with Retry-After, then nothing is paid or given up meanwhile', async () => {
    const { ledger, facts } = await peerOutages.outcome();

    // Every order's payment was refused, most of them many times.
    expect(facts.payments503, 'payment requests answered 503').to.be.at.least(ledger.orders);
    expect(facts.notificationTimeouts, 'notification requests timed out').to.be.greaterThan(0);
    expect(facts.notifications429, 'notification requests answered 429').to.be.greaterThan(0);
    expect(facts.movedDuringOutage, 'orders past `new` while Payments was down').to.equal(0);
    expect(facts.failedDuringOutage, 'outbox rows given up during the outage').to.equal(0);
  });

  it('when Payments recovers, then every order completes within about one capped retry delay, with no operator action, and every effect happened once', async () => {
    const { ledger, facts } = await peerOutages.outcome();

    expect(facts.refused, 'orders refused').to.equal(0);
    expect(facts.unanswered, 'orders never answered').to.equal(0);
    expect(facts.settledAfterRecoveryS).to.be.below(BACKOFF_MAX_MS / 1000 + 60);
    expectBalanced(ledger);
  });
});
