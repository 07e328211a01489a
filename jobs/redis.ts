import { Redis, type RedisOptions } from 'ioredis';
import { backoffDelayMs, type Backoff } from '../lib/platform/retry.js';

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
