/**
 * A Redis server of a scenario's own, as a child process, for scenarios that flush or stop it:
 * FLUSHALL and a restart on the machine's shared Redis would wipe every other test's queues.
 * No persistence, so a restart starts empty (what losing a Redis without AOF does), and
 * `noeviction`, as BullMQ requires.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from '../../support/system.js';
import { spawnRedisServer } from '../../../scripts/testkit/redis.js';
import { waitFor } from '../../../scripts/testkit/wait.js';

export interface RestartableRedis {
  url: string;
  port: number;
  readonly running: boolean;
  /** FLUSHALL: every key of every prefix gone. */
  flushAll(): Promise<void>;
  /** Kills it (SIGKILL: nothing saved, nothing said to clients). */
  stop(): Promise<void>;
  /** Starts it again, empty, on the same port; resolves when it answers PING. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function pings(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function startRestartableRedis(): Promise<RestartableRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const isRunning = () =>
    child !== undefined && child.exitCode === null && child.signalCode === null;

  async function start(): Promise<void> {
    if (isRunning()) return;
    child = (await spawnRedisServer(port)).child;
    // Answering PING, not only listening: the scenario's next step talks to it at once.
    await waitFor(() => pings(url), {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: `redis-server on port ${port}`,
    });
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc || !isRunning()) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }

  await start();
  process.once('exit', () => child?.kill('SIGKILL'));
  return {
    url,
    port,
    get running() {
      return isRunning();
    },
    async flushAll() {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
    stop,
    start,
    destroy: stop,
  };
}
