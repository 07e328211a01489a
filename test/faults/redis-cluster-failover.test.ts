import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeRedis, createRedis } from '../../jobs/redis.js';
import { queuePrefix } from '../../jobs/outbox/queues.js';
import { startRedisCluster } from '../../scripts/testkit/redis-cluster.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** Short, as the test cluster's; production's is Redis's 15 s or the provider's. */
const NODE_TIMEOUT_MS = 1000;
/** How often the probe writes to the killed master's slot. */
const PROBE_EVERY_MS = 50;

interface Probe {
  /** ms after the kill of the first write that succeeded again. */
  recoveredAfterMs?: number;
  failures: number;
  errors: Set<string>;
  stop(): Promise<void>;
}

/**
 * Writes to `key` every PROBE_EVERY_MS through a connection made as the relay's is (jobs/redis.ts,
 * producer role), so what it sees is what the relay sees during the failover.
 */
function probe(seeds: string, key: string, killedAt: () => number | undefined): Probe {
  const client = createRedis(
    { url: `redis://${seeds.split(',')[0]}`, clusterNodes: seeds },
    'producer',
  );
  client.on('error', () => undefined);
  const result: Probe = { failures: 0, errors: new Set(), stop: async () => undefined };
  let running = true;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      const sent = Date.now();
      try {
        await Promise.race([
          client.set(key, String(n)),
          sleep(2000).then(() => Promise.reject(new Error('no answer within 2 s'))),
        ]);
        const at = killedAt();
        if (at !== undefined && result.recoveredAfterMs === undefined && result.failures > 0) {
          result.recoveredAfterMs = sent - at;
        }
      } catch (err) {
        if (killedAt() !== undefined) {
          result.failures += 1;
          result.errors.add((err as Error).message.replace(/\d+/g, 'N').slice(0, 80));
        }
      }
      await sleep(PROBE_EVERY_MS);
    }
  })();
  result.stop = async () => {
    running = false;
    await loop;
    await closeRedis(client);
  };
  return result;
}

/**
 * The service's warnings and errors logged in [since, until]: how many, the last one's time after
 * `since`, and what they were.
 */
async function loggedTrouble(logFile: string, since: number, until: number) {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines = text
    .split('\n')
    .map((line) => /^\[(\w+) \d+\] (\{.*\})$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ proc: m[1]!, entry: JSON.parse(m[2]!) as Record<string, unknown> }))
    .filter(({ entry }) => {
      const at = Date.parse(String(entry.time));
      return Number(entry.level) >= 40 && at >= since && at <= until;
    });
  const last = lines.at(-1);
  const kinds = new Set(
    lines.map(({ proc, entry }) => {
      const err = entry.err as { message?: string } | undefined;
      return `${proc}: ${String(entry.msg)}${err?.message ? ` (${err.message.replace(/\d+/g, 'N').slice(0, 60)})` : ''}`;
    }),
  );
  return {
    count: lines.length,
    lastAfterMs: last ? Date.parse(String(last.entry.time)) - since : 0,
    kinds: [...kinds].slice(0, 6).join('; '),
  };
}

const failover = scenario({
  id: '11',
  title: '11. Redis Cluster: a master killed with kill -9, its replica takes over',
  expectedSeconds: 85,
  async run(ctx) {
    const cluster = await startRedisCluster({ nodeTimeoutMs: NODE_TIMEOUT_MS });
    ctx.defer(() => cluster.stop());
    const sys = await startFaultSystem(ctx, { redisClusterSeeds: cluster.seeds });
    // The master of the payments queue: every order has a payment job, so the kill lands on work.
    const key = `${queuePrefix(sys.env.BULLMQ_PREFIX!, 'payments', true)}:failover-probe`;
    const victim = await cluster.masterOf(key);
    const kill: { at?: number } = {};
    const watch = probe(cluster.seeds, key, () => kill.at);
    ctx.defer(() => watch.stop());
    const load = sys.send({ count: 200, perSecond: 4 });

    await waitFor(() => load.accepted.length >= 60, { timeoutMs: 60_000, what: '60 orders' });
    const node = cluster.nodes.find((n) => n.port === victim)!;
    kill.at = Date.now();
    await node.kill('SIGKILL');
    ctx.log(`kill -9 of the master on ${victim} at ${load.accepted.length} orders`);
    await waitFor(async () => (await cluster.masterOf(key).catch(() => victim)) !== victim, {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'a replica to take over the killed master slots',
    });
    const killedAt = kill.at;
    const promotedAfterMs = Date.now() - killedAt;
    const newMaster = await cluster.masterOf(key);
    await cluster.waitHealthy();
    ctx.log(`${newMaster} is master after ${promotedAfterMs} ms; cluster healthy again`);

    const ledger = await sys.settle(load, 240_000);
    await watch.stop();
    // The failover's window and 5 s past it: later warnings (a slow peer) are not its doing.
    const trouble = await loggedTrouble(
      path.join(ctx.dir, 'service.log'),
      killedAt,
      killedAt + promotedAfterMs + 5000,
    );
    const masters = (await cluster.roles()).filter((r) => r.role === 'master');
    return {
      ledger,
      facts: {
        promotedAfterMs,
        probeRecoveredAfterMs: watch.recoveredAfterMs ?? 0,
        probeFailures: watch.failures,
        probeErrors: [...watch.errors].join('; '),
        serviceWarnings: trouble.count,
        serviceLastWarningAfterMs: trouble.lastAfterMs,
        serviceWarningKinds: trouble.kinds,
        mastersAfter: masters.length,
        slotsServed: masters.reduce((n, m) => n + m.slots, 0),
        killedIsMaster: masters.some((m) => m.port === victim),
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 11: a Redis Cluster master killed', function () {
  this.timeout(15 * 60_000);

  it('when the master holding the payments queue is killed with kill -9 mid-run, then its replica serves its slots, and every accepted order ends as expected with every effect once', async () => {
    const outcome = await failover.outcome();
    const { facts } = outcome;

    expect(facts.killedIsMaster, 'the killed node is gone from the masters').to.equal(false);
    expect(facts.mastersAfter, 'three masters after the failover').to.equal(3);
    expect(facts.slotsServed, 'every slot served').to.equal(16384);
    expectSettled(outcome);
  });
});
