import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { STICKER } from '../support/factories.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { unaccepted, type Attempt } from './support/load.js';
import { startProbe } from './support/probe.js';
import { startPrivatePostgres } from './support/postgres.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** How long Postgres stays down: long enough for a few hundred requests to meet it. */
const DOWN_MS = 10_000;

function percentile(attempts: Attempt[], p: number): number {
  const ms = attempts.map((a) => a.ms).sort((a, b) => a - b);
  return ms.length ? ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]! : 0;
}

const postgresRestart = scenario({
  id: '3',
  title: '3. Postgres restarted mid-run (crash stop, 10 s down)',
  expectedSeconds: 75,
  async run(ctx) {
    const postgres = await startPrivatePostgres();
    ctx.defer(() => postgres.destroy());
    const sys = await startFaultSystem(ctx, { postgresAdminUrl: postgres.adminUrl });
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
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 3: Postgres restarted mid-run', function () {
  this.timeout(15 * 60_000);

  it('when Postgres is down, then the API answers every request 503 with Retry-After within a second and no request hangs', async () => {
    const { facts } = await postgresRestart.outcome();

    expect(facts.requestsWhileDown, 'requests made while Postgres was down').to.be.greaterThan(50);
    expect(facts.postsWhileDown, 'new orders among them').to.be.greaterThan(25);
    expect(facts.answered503WhileDown).to.equal(facts.requestsWhileDown);
    expect(facts.withRetryAfter, 'answers with Retry-After').to.equal(facts.requestsWhileDown);
    expect(facts.slowestWhileDownMs).to.be.below(1000);
    expect(facts.hung, 'requests of the load with no answer within 10 s').to.equal(0);
  });

  it('when Postgres is back, then every accepted order ends as expected and every effect happened once', async () => {
    const outcome = await postgresRestart.outcome();
    expectSettled(outcome);
  });
});
