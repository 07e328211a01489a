import { execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './ports.js';
import { spawnRedisServer } from './redis.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * A Redis Cluster from Debian's `redis-server` on free ports, in a temporary directory that is
 * removed on stop: by default 3 masters with one replica each. `cluster-node-timeout` is short so
 * a killed master's replica takes over within seconds (production keeps Redis's 15 s default or
 * its provider's). Each node's cluster bus port is a free port of its own (`cluster-port`), not
 * port + 10000, which may be past 65535 for a high free port.
 */
export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  nodeTimeoutMs?: number;
  /** Called with each line a node prints (for debugging). */
  onOutput?: (port: number, line: string) => void;
}

export interface RedisClusterNode {
  port: number;
  /** Kills the node's process with `signal` (kill -9 for SIGKILL) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly alive: boolean;
}

export interface RedisClusterRole {
  port: number;
  role: 'master' | 'replica';
  /** Slots a master serves (none for a replica). */
  slots: number;
}

export interface TestRedisCluster {
  /** Seed nodes as REDIS_CLUSTER_NODES takes them: `127.0.0.1:p1,127.0.0.1:p2,…`. */
  seeds: string;
  nodes: RedisClusterNode[];
  /** A plain client on one node (CLUSTER commands, FLUSHALL of that node). */
  nodeClient(port: number): Redis;
  /** The live nodes' roles as the cluster sees them now. */
  roles(): Promise<RedisClusterRole[]>;
  /** The port of the master that serves `key` now. */
  masterOf(key: string): Promise<number>;
  /** FLUSHALL on every live master: what losing the cluster's data looks like to its clients. */
  flushAll(): Promise<void>;
  /** Waits until every live node says cluster_state:ok and agrees on the masters. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function startNode(
  dir: string,
  nodeTimeoutMs: number,
  onOutput?: (port: number, line: string) => void,
): Promise<{ port: number; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const busPort = await freePort();
  const { child, output } = await spawnRedisServer(
    port,
    [
      '--cluster-port',
      String(busPort),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      path.join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      // A replica takes over however long it was cut off from its master: in a test the master
      // is gone for good, and refusing would leave its slots without a server.
      '--cluster-replica-validity-factor',
      '0',
      '--dir',
      dir,
      '--dbfilename',
      `dump-${port}.rdb`,
    ],
    onOutput && ((line) => onOutput(port, line)),
  );
  return { port, child, output };
}

interface NodeLine {
  port: number;
  flags: string[];
  slots: number;
  connected: boolean;
}

/** CLUSTER NODES, one entry per node. */
function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [, address, flags, , , , , link, ...ranges] = line.split(' ');
      const port = Number(address!.split('@')[0]!.split(':').pop());
      const slots = ranges.reduce((sum, r) => {
        if (r.startsWith('[')) return sum;
        const [from, to] = r.split('-').map(Number);
        return sum + (to === undefined ? 1 : to - from! + 1);
      }, 0);
      return { port, flags: flags!.split(','), slots, connected: link === 'connected' };
    });
}

export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const { masters = 3, replicasPerMaster = 1, nodeTimeoutMs = 1000 } = options;
  const dir = await mkdtemp(path.join(tmpdir(), 'redis-cluster-'));
  const started: Awaited<ReturnType<typeof startNode>>[] = [];
  const clients = new Map<number, Redis>();
  const stopAll = async () => {
    for (const c of clients.values()) c.disconnect();
    clients.clear();
    await Promise.all(
      started.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      started.push(await startNode(dir, nodeTimeoutMs, options.onOutput));
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...started.map(({ port }) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      String(replicasPerMaster),
      '--cluster-yes',
    ]);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const nodeClient = (port: number): Redis => {
    let client = clients.get(port);
    if (!client) {
      client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: false });
      client.on('error', () => undefined); // a killed node's client only reconnects in vain
      clients.set(port, client);
    }
    return client;
  };
  const live = () =>
    started.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  const nodesSeenBy = async (port: number) =>
    parseNodes((await nodeClient(port).cluster('NODES')) as string);

  const cluster: TestRedisCluster = {
    seeds: started.map(({ port }) => `127.0.0.1:${port}`).join(','),
    nodes: started.map(({ port, child }) => ({
      port,
      get alive() {
        return child.exitCode === null && child.signalCode === null;
      },
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill(signal);
        await exited;
        clients.get(port)?.disconnect();
        clients.delete(port);
      },
    })),
    nodeClient,
    async roles() {
      const [first] = live();
      const seen = await nodesSeenBy(first!.port);
      const alive = new Set(live().map(({ port }) => port));
      return seen
        .filter((n) => alive.has(n.port))
        .map((n) => ({
          port: n.port,
          role: n.flags.includes('master') ? ('master' as const) : ('replica' as const),
          slots: n.slots,
        }));
    },
    async masterOf(key) {
      const [first] = live();
      const slot = await nodeClient(first!.port).cluster('KEYSLOT', key);
      const shards = await nodeClient(first!.port).cluster('SLOTS');
      const owner = shards.find(([from, to]) => slot >= from && slot <= to);
      if (!owner?.[2]) throw new Error(`no master serves slot ${slot}`);
      return owner[2][1];
    },
    async flushAll() {
      const masters = (await cluster.roles()).filter((r) => r.role === 'master');
      await Promise.all(masters.map(({ port }) => nodeClient(port).flushall()));
    },
    async waitHealthy(timeoutMs = 30000) {
      await waitFor(
        async () => {
          const nodes = live();
          for (const { port } of nodes) {
            const info = (await nodeClient(port)
              .cluster('INFO')
              .catch(() => '')) as string;
            if (!info.includes('cluster_state:ok')) return false;
          }
          // Every live master has its slots and every replica its link up: a failover can happen.
          const seen = await nodesSeenBy(nodes[0]!.port).catch(() => []);
          const alive = new Set(nodes.map(({ port }) => port));
          const masters = seen.filter((n) => n.flags.includes('master') && alive.has(n.port));
          if (masters.reduce((sum, m) => sum + m.slots, 0) !== 16384) return false;
          for (const { port } of nodes) {
            const replication = await nodeClient(port)
              .info('replication')
              .catch(() => '');
            if (
              replication.includes('role:slave') &&
              !replication.includes('master_link_status:up')
            )
              return false;
          }
          return true;
        },
        { timeoutMs, intervalMs: 100, what: 'the Redis Cluster to be healthy' },
      );
    },
    stop: stopAll,
  };
  try {
    await cluster.waitHealthy();
  } catch (err) {
    await stopAll();
    throw err;
  }
  return cluster;
}

/** A Cluster client on `seeds` for tests and tools, failing fast on a dead node. */
export function clusterClient(seeds: string): Cluster {
  return new Cluster(
    seeds.split(',').map((s) => {
      const [host, port] = s.split(':');
      return { host: host!, port: Number(port) };
    }),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  );
}
