import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { backoffDelayMs, type Backoff } from '../lib/platform/retry.js';
import type { ReadinessCheck } from '../lib/platform/health.js';
import type { Config } from '../lib/platform/config.js';
import type { Logger } from '../lib/platform/logger.js';

/**
 * Redis connections for BullMQ. Two kinds, as BullMQ needs them:
 * - producer (Queue): fails fast while Redis is down (`enableOfflineQueue: false`), so the relay
 *   rolls back and retries instead of queueing commands in memory;
 * - worker: `maxRetriesPerRequest: null`, so its blocking reads wait out a reconnect.
 * ioredis turns a `rediss://` URL into a TLS connection itself (Redis.parseOptions sets
 * `tls: true` when the URL starts with `rediss://`); the scheme is matched case-insensitively here
 * so `REDISS://` gets TLS too.
 * Every connection of the service is made here (createRedis), to one server or, when
 * REDIS_CLUSTER_NODES is set, to a Redis Cluster (clusterOptions says what changes there).
 */
export type RedisRole = 'producer' | 'worker';

/**
 * ioredis runs its own reconnect loop and asks only for the next delay: the shared backoff rule
 * (lib/platform/retry.ts), quick at first, never slower than every 2 s.
 */
const RECONNECT_BACKOFF: Backoff = { minMs: 100, maxMs: 2000 };

export interface RedisTlsOptions {
  /**
   * Verify the server's certificate (default). Heroku Redis presents a self-signed one, so there
   * REDIS_TLS_VERIFY=false is needed; traffic is still encrypted.
   */
  verify?: boolean;
}

export function redisOptions(
  url: string,
  role: RedisRole,
  name?: string,
  { verify = true }: RedisTlsOptions = {},
): RedisOptions {
  return {
    connectionName: name,
    ...(url.toLowerCase().startsWith('rediss:') ? { tls: { rejectUnauthorized: verify } } : {}),
    ...(role === 'producer'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { maxRetriesPerRequest: null }),
    retryStrategy: (times: number) => backoffDelayMs(RECONNECT_BACKOFF, times),
  };
}

/** A connection to one Redis server or to a Redis Cluster: BullMQ takes either. */
export type RedisClient = Redis | Cluster;

/**
 * Where the service's Redis is: one server (`url`), or a cluster reached through its seed nodes,
 * with TLS and the password taken from `url` as for one server (its host is then not used).
 */
export interface RedisTarget {
  url: string;
  /** Verify the server's certificate over TLS (see RedisTlsOptions). */
  tlsVerify?: boolean;
  /** The cluster's seed nodes, `host:port,host:port`; unset for one server. */
  clusterNodes?: string;
}

/** The target the configuration names. */
export function redisTargetOf(
  config: Pick<Config, 'redisUrl' | 'redisTlsVerify' | 'redisClusterNodes'>,
): RedisTarget {
  return {
    url: config.redisUrl,
    tlsVerify: config.redisTlsVerify,
    clusterNodes: config.redisClusterNodes,
  };
}

export interface ClusterNode {
  host: string;
  port: number;
}

/** `host:port,host:port` as nodes; the last colon splits, so a bracketless IPv6 host still parses. */
export function parseClusterNodes(list: string): ClusterNode[] {
  return list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const at = item.lastIndexOf(':');
      const port = Number(item.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw new Error(`not a host:port cluster node: ${JSON.stringify(item)}`);
      }
      return { host: item.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port };
    });
}

export function isCluster(target: RedisTarget): boolean {
  return (target.clusterNodes ?? '').trim() !== '';
}

/**
 * A cluster's options. Each node connection gets what one server's would (TLS, credentials, the
 * role's retry rule); ioredis reconnects nodes and refreshes the slot map by itself.
 * - While one master fails over, the cluster as a whole stays ready: ioredis holds a command for
 *   the moved slots and sends it again once the slot map shows the new master
 *   (retryDelayOnFailover, retryDelayOnClusterDown), for both roles. When the whole cluster is
 *   out of reach, a producer fails fast as on one server (`enableOfflineQueue: false`): the relay
 *   rolls back and retries, and nothing piles up in memory; a worker waits (offline queue on).
 * - `dnsLookup` keeps the host names: with TLS, a managed cluster's certificate names the host,
 *   not the address it resolves to.
 */
export function clusterOptions(
  target: RedisTarget,
  role: RedisRole,
  name?: string,
): ClusterOptions {
  const single = redisOptions(target.url, role, name, { verify: target.tlsVerify });
  const url = new URL(target.url);
  return {
    redisOptions: {
      connectionName: single.connectionName,
      ...(single.tls ? { tls: single.tls } : {}),
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      maxRetriesPerRequest: single.maxRetriesPerRequest,
    },
    enableOfflineQueue: role !== 'producer',
    clusterRetryStrategy: (times: number) => backoffDelayMs(RECONNECT_BACKOFF, times),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
    dnsLookup: (address, callback) => callback(null, address),
  };
}

/** A connection for `role`: a Cluster when the target names seed nodes, else one server's. */
export function createRedis(
  target: RedisTarget | string,
  role: RedisRole,
  name?: string,
): RedisClient {
  const t = typeof target === 'string' ? { url: target } : target;
  if (isCluster(t)) {
    return new Cluster(parseClusterNodes(t.clusterNodes!), clusterOptions(t, role, name));
  }
  return new Redis(t.url, redisOptions(t.url, role, name, { verify: t.tlsVerify }));
}

/** The masters of a cluster, or the one server. */
export function serversOf(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** quit() when connected, disconnect() otherwise (quit would wait for a connection forever). */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    // A QUIT that fails means the connection is already broken: drop the socket instead.
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

/** The only eviction policy under which Redis never drops a BullMQ key. */
export const REQUIRED_EVICTION_POLICY = 'noeviction';

/**
 * Redis's `maxmemory-policy`, read from INFO (which managed Redis services allow) or else CONFIG
 * GET (which some of them refuse); undefined when neither answers.
 */
async function readServerEvictionPolicy(client: Redis): Promise<string | undefined> {
  const fromInfo = await client.info('memory').then(
    (info) => /^maxmemory_policy:(\S+)/m.exec(info)?.[1],
    () => undefined,
  );
  if (fromInfo) return fromInfo;
  return client.config('GET', 'maxmemory-policy').then(
    (pair) => (Array.isArray(pair) && typeof pair[1] === 'string' ? pair[1] : undefined),
    () => undefined,
  );
}

/**
 * The eviction policy of every master: the first that is not noeviction (or unreadable), so one
 * misconfigured shard shows.
 */
export async function readEvictionPolicy(client: RedisClient): Promise<string | undefined> {
  const policies = await Promise.all(serversOf(client).map(readServerEvictionPolicy));
  if (policies.length === 0) return undefined;
  const unsafe = policies.findIndex((p) => p !== REQUIRED_EVICTION_POLICY);
  return unsafe === -1 ? REQUIRED_EVICTION_POLICY : policies[unsafe];
}

/**
 * A readiness warning when Redis may evict keys: under memory pressure it would drop queued jobs
 * (the reconciler re-adds them from Postgres, late). Not a failure: every instance shares the same
 * Redis, so failing readiness would take the whole service down over a risk, not an outage.
 */
export async function evictionPolicyWarning(client: RedisClient): Promise<string | undefined> {
  const policy = await readEvictionPolicy(client);
  if (policy === REQUIRED_EVICTION_POLICY) return undefined;
  return policy === undefined
    ? `maxmemory-policy could not be read (INFO and CONFIG GET refused); BullMQ needs ${REQUIRED_EVICTION_POLICY}`
    : `maxmemory-policy is ${policy}; BullMQ needs ${REQUIRED_EVICTION_POLICY}, or Redis may evict queued jobs`;
}

/**
 * The readiness check of a process's Redis: reachable (`ping`), and a warning when its eviction
 * policy is unsafe, logged once each time it changes so it shows where no one reads readiness.
 */
export function redisReadinessCheck(
  client: RedisClient,
  logger: Logger,
  ping: () => Promise<unknown> = () => client.ping(),
): ReadinessCheck {
  let logged: string | undefined;
  return async () => {
    await ping();
    const warning = await evictionPolicyWarning(client);
    if (warning && warning !== logged) logger.warn({ warning }, 'redis eviction policy');
    logged = warning;
    return warning ? { warning } : undefined;
  };
}
