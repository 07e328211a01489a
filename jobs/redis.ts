import { Redis, type RedisOptions } from 'ioredis';
import { backoffDelayMs, type Backoff } from '../lib/platform/retry.js';
import type { ReadinessCheck } from '../lib/platform/health.js';
import type { Logger } from '../lib/platform/logger.js';

/**
 * Redis connections for BullMQ. Two kinds, as BullMQ needs them:
 * - producer (Queue): fails fast while Redis is down (`enableOfflineQueue: false`), so the relay
 *   rolls back and retries instead of queueing commands in memory;
 * - worker: `maxRetriesPerRequest: null`, so its blocking reads wait out a reconnect.
 * ioredis turns a `rediss://` URL into a TLS connection itself (Redis.parseOptions sets
 * `tls: true` when the URL starts with `rediss://`); the scheme is matched case-insensitively here
 * so `REDISS://` gets TLS too.
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

export function createRedis(
  url: string,
  role: RedisRole,
  name?: string,
  tls?: RedisTlsOptions,
): Redis {
  return new Redis(url, redisOptions(url, role, name, tls));
}

/** quit() when connected, disconnect() otherwise (quit would wait for a connection forever). */
export async function closeRedis(client: Redis): Promise<void> {
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
export async function readEvictionPolicy(client: Redis): Promise<string | undefined> {
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
 * A readiness warning when Redis may evict keys: under memory pressure it would drop queued jobs
 * (the reconciler re-adds them from Postgres, late). Not a failure: every instance shares the same
 * Redis, so failing readiness would take the whole service down over a risk, not an outage.
 */
export async function evictionPolicyWarning(client: Redis): Promise<string | undefined> {
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
  client: Redis,
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
