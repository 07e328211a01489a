/**
 * `npm run redis:cluster`: a local Redis Cluster from Debian's `redis-server` for the service, dev
 * mode or a test run by hand: 3 masters and 3 replicas on free ports, a short
 * `cluster-node-timeout` (1 s by default) so a failover takes seconds, data in a temporary
 * directory removed on exit.
 *
 *   npm run redis:cluster                         3 masters, 1 replica each
 *   npm run redis:cluster -- --masters 3 --replicas 1 --node-timeout 1000
 *
 * Prints the seed nodes (`127.0.0.1:p1,…`, the value of REDIS_CLUSTER_NODES) on a line of its own
 * once every node reports cluster_state:ok, then runs until SIGTERM or Ctrl-C and stops every node.
 * Set REDIS_CLUSTER_LOG=1 to see the nodes' logs.
 */
import { parseArgs } from 'node:util';
import { startRedisCluster } from './testkit/redis-cluster.js';

const { values } = parseArgs({
  options: {
    masters: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '1' },
    'node-timeout': { type: 'string', default: '1000' },
  },
});

const err = (message: string) => process.stderr.write(`redis-cluster: ${message}\n`);

function count(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} takes a whole number ≥ ${min}`);
  return n;
}

async function main(): Promise<void> {
  const started = Date.now();
  const cluster = await startRedisCluster({
    masters: count('masters', values.masters, 3),
    replicasPerMaster: count('replicas', values.replicas, 0),
    nodeTimeoutMs: count('node-timeout', values['node-timeout'], 100),
    onOutput: process.env.REDIS_CLUSTER_LOG ? (port, line) => err(`[${port}] ${line}`) : undefined,
  });
  err(`${cluster.nodes.length} nodes ready in ${Date.now() - started} ms`);
  process.stdout.write(`${cluster.seeds}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    err(`${signal}: stopping`);
    cluster.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        err(`stop failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  err((e as Error).message);
  process.exit(1);
});
