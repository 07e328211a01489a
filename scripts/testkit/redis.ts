import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

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

export interface PrivateRedis {
  url: string;
  port: number;
  /** A client on it, for the test to reconfigure it (CONFIG SET, ACL SETUSER). */
  client: Redis;
  stop(): Promise<void>;
}

/** A redis-server child process of a test's own, started and answering. */
export interface RedisServerProcess {
  child: ChildProcess;
  /** What it printed so far (the last 8 KB). */
  output(): string;
}

/**
 * Starts `redis-server` on `port` with the options every test server has (loopback only, never
 * persisted, `noeviction` as BullMQ requires) and `args` after them (later options win), and
 * resolves once it is ready to accept connections; rejects with its output if it exits first, or
 * cannot be started at all (`binary`, redis-server on PATH by default, missing). `onLine` sees
 * each line it prints.
 */
export async function spawnRedisServer(
  port: number,
  args: string[] = [],
  onLine?: (line: string) => void,
  binary = 'redis-server',
): Promise<RedisServerProcess> {
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (c: Buffer) => {
    const text = c.toString();
    output = (output + text).slice(-8192);
    if (onLine) for (const line of text.split('\n')) if (line) onLine(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  await waitFor(
    () =>
      output.includes('Ready to accept connections') ||
      child.exitCode !== null ||
      spawnError !== undefined,
    { timeoutMs: 10000, intervalMs: 20, what: `redis-server on ${port}` },
  );
  if (spawnError) throw new Error(`${binary} could not be started: ${spawnError.message}`);
  if (child.exitCode !== null) throw new Error(`redis-server on ${port} did not start:\n${output}`);
  return { child, output: () => output };
}

/**
 * A redis-server of the test's own on a free port, never persisted: for what must not touch the
 * shared Redis (CONFIG SET, ACL users, a password). `args` are redis-server options; `binary`
 * names the server (redis-server on PATH by default).
 */
export async function startPrivateRedis(
  args: string[] = [],
  binary?: string,
): Promise<PrivateRedis> {
  const port = await freePort();
  const { child } = await spawnRedisServer(port, args, undefined, binary);
  const exited = once(child, 'exit');
  const password = args.includes('--requirepass') ? args[args.indexOf('--requirepass') + 1] : '';
  const url = `redis://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  return {
    url,
    port,
    client,
    async stop() {
      client.disconnect();
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
