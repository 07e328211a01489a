import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../support/recording-peer.js';
import { expectBalanced } from './support/expect.js';
import type { Attempt } from './support/load.js';
import { startPrivatePostgres } from './support/postgres.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** How long Postgres stays down: long enough for a few hundred requests to meet it. */
const DOWN_MS = 10_000;

/** GETs an order over and over until told to stop, keeping each answer's status and time. */
function probeReads(url: string, orderId: string): { attempts: Attempt[]; stop(): Promise<void> } {
  const attempts: Attempt[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const startedAt = Date.now();
      let outcome: Attempt['outcome'];
      try {
        const res = await fetch(`${url}/api/v1/orders/${orderId}`, {
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer();
        outcome = res.status;
      } catch (err) {
        outcome = (err as Error).name === 'TimeoutError' ? 'timeout' : 'error';
      }
      attempts.push({ startedAt, ms: Date.now() - startedAt, outcome });
      // One read in flight at a time, a few a second: a client polling its order.
      await sleep(100);
    }
  })();
  return {
    attempts,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

const postgresRestart = scenario({
  id: '3',
  title: '3. Postgres restarted mid-run (crash stop, 10 s down)',
  expectedSeconds: 120,
  async run(ctx) {
    const postgres = await startPrivatePostgres();
    ctx.defer(() => postgres.destroy());
    const sys = await startFaultSystem(ctx, { postgresAdminUrl: postgres.adminUrl });
    const load = sys.send({ count: 300, perSecond: 5 });

    await waitFor(() => load.accepted.length >= 100, { timeoutMs: 60_000, what: '100 orders' });
    const reads = probeReads(sys.url, load.accepted[0]!.id);
    await postgres.stop('immediate');
    const downFrom = Date.now();
    ctx.log(`Postgres stopped (immediate) at ${load.accepted.length} orders`);
    await sleep(DOWN_MS);
    const downUntil = Date.now();
    await postgres.start();
    ctx.log('Postgres started again');
    await reads.stop();

    // What the API answered to every request made entirely while Postgres was down.
    const whileDown = [...load.attempts, ...reads.attempts].filter(
      (a) => a.startedAt >= downFrom && a.startedAt + a.ms <= downUntil,
    );
    const hung = [...load.attempts, ...reads.attempts].filter((a) => a.outcome === 'timeout');
    await load.done;
    ctx.log(`${load.accepted.length} orders accepted; waiting for the ledger`);
    const ledger = await sys.ledger(load.accepted, 240_000);
    return {
      ledger,
      facts: {
        requestsWhileDown: whileDown.length,
        answered503WhileDown: whileDown.filter((a) => a.outcome === 503).length,
        slowestWhileDownMs: Math.max(0, ...whileDown.map((a) => a.ms)),
        hung: hung.length,
        refused: load.refused.length,
        unanswered: load.unanswered.length,
      },
    };
  },
});

describe('fault scenario 3: Postgres restarted mid-run', function () {
  this.timeout(15 * 60_000);

  it('when Postgres is down, then the API answers every request 503 within a second and no request hangs', async () => {
    const { facts } = await postgresRestart.outcome();

    expect(facts.requestsWhileDown, 'requests made while Postgres was down').to.be.greaterThan(20);
    expect(facts.answered503WhileDown).to.equal(facts.requestsWhileDown);
    expect(facts.slowestWhileDownMs).to.be.below(1000);
    expect(facts.hung, 'requests with no answer within 10 s').to.equal(0);
  });

  it('when Postgres is back, then every accepted order ends as expected and every effect happened once', async () => {
    const { ledger, facts } = await postgresRestart.outcome();

    expect(facts.refused, 'orders refused').to.equal(0);
    expect(facts.unanswered, 'orders never answered').to.equal(0);
    expectBalanced(ledger);
  });
});
