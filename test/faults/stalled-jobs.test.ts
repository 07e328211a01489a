import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** Orders, all of whose payment jobs one worker runs at once (PAYMENTS_CONCURRENCY's default). */
const ORDERS = 16;
/**
 * Slow Payments: each request is answered 503 after this long, so a request whose worker was
 * killed is never taken (as the issue measured: nothing was paid while the worker was down), and
 * a request from a live worker holds its job active past the next kill.
 */
const SLOW_MS = 55_000;
/** Above SLOW_MS (the variable's maximum), so a job waits on slow Payments instead of timing out. */
const PEER_TIMEOUT_MS = 60_000;

const stalled = scenario({
  id: '9',
  title: '9. kill -9 of the worker twice while payment jobs wait on a slow Payments',
  expectedSeconds: 170,
  async run(ctx) {
    const sys = await startFaultSystem(ctx, { env: { PEER_TIMEOUT_MS: String(PEER_TIMEOUT_MS) } });
    const { payments } = sys.peers;
    payments.setFault({ status: 503, delayMs: SLOW_MS });
    const load = sys.send({ count: ORDERS, perSecond: 8 });
    await load.done;

    // Each kill comes once every payment job is waiting on Payments in the running worker: the
    // first worker's requests, then the restarted one's after BullMQ found the jobs stalled
    // (their locks lapse within 30 s; BullMQ checks every 30 s). After the second, BullMQ has
    // seen each job stall twice, more than its maxStalledCount of 1.
    for (const kill of [1, 2]) {
      await waitFor(() => payments.faulted >= kill * load.accepted.length, {
        timeoutMs: 150_000,
        what: `every payment job waiting on Payments (round ${kill})`,
      });
      await sys.service.worker.kill();
      ctx.log(`kill -9 worker (${kill}) with ${payments.faulted} payment requests held`);
      await sys.service.worker.start();
    }
    payments.setFault(undefined);
    const recoveredAt = Date.now();
    ctx.log('Payments answers again');

    const paid = await waitFor(
      async () =>
        (
          await sys.db.pool.query<{ n: number }>(
            `select count(*)::int as n from orders where status = 'new' and id = any($1::uuid[])`,
            [load.accepted.map((o) => o.id)],
          )
        ).rows[0]!.n === 0,
      { timeoutMs: 240_000, intervalMs: 500, what: 'every payment answered' },
    ).then(
      () => true,
      () => false,
    );
    const paidAfterS = Math.round((Date.now() - recoveredAt) / 1000);
    ctx.log(
      paid
        ? `every order paid (or its payment failed) ${paidAfterS} s after Payments recovered`
        : `orders still unpaid ${paidAfterS} s after Payments recovered`,
    );
    const ledger = await sys.ledger(load.accepted, 120_000);
    const log = await readFile(path.join(ctx.dir, 'service.log'), 'utf8');
    const count = (msg: string) => log.split('\n').filter((l) => l.includes(`"msg":"${msg}"`));
    const rerun = count('job failed without a verdict on its outbox row; running it again');
    return {
      ledger,
      facts: {
        workerKills: sys.service.worker.kills,
        paymentRequestsHeld: payments.faulted,
        failedAsStalledAndRerun: rerun.filter((l) => l.includes('stalled more than allowable'))
          .length,
        // Who put them back: the worker that failed them, or the reconciler's pass.
        rerunByReconciler: rerun.filter((l) => l.includes('"component":"reconciler"')).length,
        everyOrderPaid: paid,
        paidAfterRecoveryS: paidAfterS,
        settledAfterRecoveryS: Math.round((Date.now() - recoveredAt) / 1000),
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 9: the worker killed twice mid-job', function () {
  this.timeout(15 * 60_000);

  it('when the worker is killed with kill -9 twice while payment jobs wait on a slow Payments, then BullMQ fails them as stalled and each is run again', async () => {
    const { ledger, facts } = await stalled.outcome();

    expect(facts.workerKills).to.equal(2);
    expect(facts.paymentRequestsHeld, 'each payment held twice').to.be.at.least(2 * ledger.orders);
    expect(facts.failedAsStalledAndRerun, 'jobs BullMQ failed as stalled, run again').to.equal(
      ledger.orders,
    );
  });

  it('when Payments answers again, then every order is paid and goes its way with no operator action, and every effect happened once', async () => {
    const outcome = await stalled.outcome();

    expectSettled(outcome);
  });
});
