import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * Redis for tests: every test file gets its own BullMQ prefix, and cleans up only that prefix's
 * keys (SCAN + UNLINK). Never FLUSHALL: other test files share the same Redis.
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** `{t-<random>}`: a hash tag like production's `{orders}`, unique per call. */
export function uniqueBullPrefix(): string {
  return `{t-${randomBytes(5).toString('hex')}}`;
}

/** Deletes every key under `prefix:`; returns how many. */
export async function deletePrefixKeys(prefix: string, url = TEST_REDIS_URL): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    await client.quit();
  }
}

export interface TestRedisPrefix {
  url: string;
  prefix: string;
  /** Deletes the prefix's keys (what a Redis flush would do to this test's queues). */
  flush(): Promise<number>;
}

export function createTestRedisPrefix(): TestRedisPrefix {
  const prefix = uniqueBullPrefix();
  return { url: TEST_REDIS_URL, prefix, flush: () => deletePrefixKeys(prefix) };
}
