import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { startRestartableRedis } from './support/redis.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** Literal: the "Redis stopped for 30 s". */
const REDIS_DOWN_MS = 30_000;

const redisLoss = scenario({
  id: '2',
  title: '2. Redis FLUSHALL mid-run, then Redis down 30 s and back empty',
  expectedSeconds: 90,
  async run(ctx) {
    const redis = await startRestartableRedis();
    ctx.defer(() => redis.destroy());
    const sys = await startFaultSystem(ctx, {
      redisUrl: redis.url,
      // The reconciler puts back what Redis lost once a row has been open this long; production's
      // 60 s / 30 s would only make the scenario wait longer.
      env: { RECONCILE_AFTER_MS: '10000', RECONCILE_EVERY_MS: '5000' },
    });
    const load = sys.send({ count: 300, perSecond: 4 });

    await waitFor(() => load.accepted.length >= 60, { timeoutMs: 60_000, what: '60 orders' });
    await redis.flushAll();
    ctx.log(`FLUSHALL at ${load.accepted.length} orders`);

    await waitFor(() => load.accepted.length >= 120, { timeoutMs: 60_000, what: '120 orders' });
    await redis.stop();
    const before = load.accepted.length;
    ctx.log(`Redis killed at ${before} orders`);
    // The outage's length is the scenario's subject, not a guess at how long something takes.
    await sleep(REDIS_DOWN_MS);
    const acceptedWhileDown = load.accepted.length - before;
    await redis.start();
    ctx.log(`Redis started again, empty; ${acceptedWhileDown} orders accepted while it was down`);

    const ledger = await sys.settle(load, 240_000);
    return {
      ledger,
      facts: {
        acceptedWhileDown,
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 2: Redis flushed, then lost for 30 s', function () {
  this.timeout(15 * 60_000);

  it('when Redis is flushed mid-run and later stopped for 30 s and started empty, then orders are still taken meanwhile, and every accepted order ends as expected with every effect once', async () => {
    const outcome = await redisLoss.outcome();
    const { facts } = outcome;

    expect(facts.acceptedWhileDown, 'orders accepted while Redis was down').to.be.greaterThan(0);
    expectSettled(outcome);
  });
});
