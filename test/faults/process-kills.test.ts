import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectSettled } from './support/expect.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import type { ProcessKind } from './support/service.js';
import { startFaultSystem } from './support/system.js';
import { startRedisCluster } from '../../scripts/testkit/redis-cluster.js';

const KILLS_EACH = 3;
/** On the cluster once each: the kills are the same; the cluster is what is tested again. */
const CLUSTER_KILLS_EACH = 1;

interface KillsOptions {
  id: string;
  title: string;
  expectedSeconds: number;
  killsEach: number;
  count: number;
  /** Runs the service on a Redis Cluster of its own (3 masters, 3 replicas). */
  onCluster?: boolean;
}

const killsScenario = ({ killsEach, count, onCluster, ...spec }: KillsOptions) =>
  scenario({
    ...spec,
    async run(ctx) {
      let redisClusterSeeds: string | undefined;
      if (onCluster) {
        const cluster = await startRedisCluster();
        ctx.defer(() => cluster.stop());
        redisClusterSeeds = cluster.seeds;
      }
      const sys = await startFaultSystem(ctx, { redisClusterSeeds });
      const perSecond = 3;
      const load = sys.send({ count, perSecond });
      // Each process killsEach times, in a random order, at random moments while orders flow, and
      // started again at once, as the platform restarts a crashed process. A process is killed
      // again only once its last restart is up; the others do not wait for it (a restarted
      // consumer, for one, waits out its dead member's 30 s session before it has partitions).
      const seconds = count / perSecond;
      const moments = Array.from(
        { length: 3 * killsEach },
        () => 2000 + ctx.random() * (seconds - 4) * 1000,
      ).sort((a, b) => a - b);
      const victims: ProcessKind[] = (['worker', 'consumer', 'web'] as const).flatMap((k) =>
        Array<ProcessKind>(killsEach).fill(k),
      );
      for (let i = victims.length - 1; i > 0; i--) {
        const j = Math.floor(ctx.random() * (i + 1));
        [victims[i], victims[j]] = [victims[j]!, victims[i]!];
      }
      const chains: Partial<Record<ProcessKind, Promise<void>>> = {};
      const begun = Date.now();
      for (const [i, kind] of victims.entries()) {
        chains[kind] = (chains[kind] ?? Promise.resolve()).then(async () => {
          // The moment is the point of the scenario: random, not a wait for something to happen.
          const at = begun + moments[i]!;
          if (at > Date.now()) await sleep(at - Date.now());
          const proc = sys.service[kind];
          await proc.kill();
          ctx.log(`kill -9 ${kind}; ${load.accepted.length} orders accepted so far`);
          await proc.start();
        });
      }
      await Promise.all(Object.values(chains));
      const ledger = await sys.settle(load, 240_000);
      return {
        ledger,
        facts: {
          kills: sys.service.all.reduce((n, p) => n + p.kills, 0),
          acceptedOnReplay: load.accepted.filter((o) => o.replayed).length,
          ...unaccepted(load),
          failedAttempts: load.attempts.filter((a) => a.outcome !== 201).length,
        },
      };
    },
  });

const kills = killsScenario({
  id: '1',
  title: '1. kill -9 of worker, consumer and web, 3 times each',
  expectedSeconds: 155,
  killsEach: KILLS_EACH,
  count: 300,
});

const clusterKills = killsScenario({
  id: '1c',
  title: '1c. the same on a Redis Cluster, once each',
  expectedSeconds: 75,
  killsEach: CLUSTER_KILLS_EACH,
  count: 150,
  onCluster: true,
});

describe('fault scenario 1: processes killed with kill -9', function () {
  this.timeout(15 * 60_000);

  it('when the worker, the consumer and web are each killed 3 times at random moments, then every accepted order ends as expected and every effect happened once', async () => {
    const outcome = await kills.outcome();
    const { facts } = outcome;

    expect(facts.kills).to.equal(3 * KILLS_EACH);
    expectSettled(outcome);
  });
});

describe('fault scenario 1c: processes killed with kill -9, on a Redis Cluster', function () {
  this.timeout(15 * 60_000);

  it('when the service runs on a Redis Cluster and the worker, the consumer and web are each killed once at a random moment, then every accepted order ends as expected and every effect happened once', async () => {
    const outcome = await clusterKills.outcome();

    expect(outcome.facts.kills).to.equal(3 * CLUSTER_KILLS_EACH);
    expectSettled(outcome);
  });
});
