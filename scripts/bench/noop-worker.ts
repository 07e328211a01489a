/**
 * The no-op BullMQ floor's child process (started by noop-floor.ts, never by hand): what BullMQ
 * itself costs per job, in a process of its own so its CPU can be read apart from everything
 * else. Jobs of the service's size (outbox rows sampled from the run, fresh ids), added by the
 * relay's own enqueueRows (one addBulk per queue, the service's job options from createQueues),
 * paced at the service's job rate, and taken by one BullMQ Worker per queue at the service's
 * concurrency, each on its own connection as the worker process has, whose processor does nothing.
 *
 * Talks to its parent over IPC: warms up (NOOP_WARMUP_SECONDS of the same load, so that the JIT
 * and the connections are as warm as the long-running worker process's), sends `ready`, runs
 * NOOP_SECONDS of load at NOOP_JOBS_PER_SECOND on `go`, sends `done` once every job completed,
 * exits on `stop` (or when the parent goes away).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { DispatchableRow } from '../../db/outbox/dispatch.js';
import { enqueueRows } from '../../jobs/outbox/enqueue.js';
import { createQueues } from '../../jobs/outbox/queues.js';
import { QUEUE_NAMES } from '../../db/outbox/events.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { sleep } from './stats.js';

export interface NoopGo {
  type: 'go';
}
export interface NoopDone {
  type: 'done';
  added: number;
  completed: number;
  seconds: number;
  perQueue: Record<string, number>;
}
export type NoopMessage = { type: 'ready' } | NoopDone | { type: 'error'; message: string };

/** How often the pacing loop adds the jobs that have come due (the relay wakes per commit). */
const TICK_MS = 10;
/** Bound on one addBulk round, as the relay's. */
const ENQUEUE_TIMEOUT_MS = 5000;
/** Bound on the last jobs completing after the last add. */
const DRAIN_TIMEOUT_MS = 30_000;

type SampledRow = Pick<DispatchableRow, 'queue' | 'eventType' | 'orderId' | 'idempotencyKey'> & {
  payload: unknown;
};

function send(message: NoopMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const sample = JSON.parse(await readFile(process.env.NOOP_JOBS_FILE!, 'utf8')) as SampledRow[];
  if (!sample.length) throw new Error('no sampled jobs to copy');
  const config = loadConfig({
    ...process.env,
    // Unused here; the configuration requires them.
    PAYMENTS_SERVICE_API_URL: 'http://127.0.0.1:1/',
    NOTIFICATIONS_SERVICE_API_URL: 'http://127.0.0.1:1/',
  });
  const logger = silentLogger();
  const queueSet = createQueues(config, logger);
  let completed = 0;
  let onCompleted: (() => void) | undefined;
  const workers = QUEUE_NAMES.map((name) => {
    const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(name, async () => undefined, {
      connection,
      prefix: config.bullPrefix,
      concurrency: config.jobs.concurrency[name],
    });
    worker.on('completed', () => {
      completed++;
      onCompleted?.();
    });
    worker.on('error', (err) => send({ type: 'error', message: `worker ${name}: ${err.message}` }));
    return { worker, connection };
  });
  await Promise.all(workers.map((w) => w.worker.waitUntilReady()));
  await Promise.all(Object.values(queueSet.queues).map((q) => q.waitUntilReady()));

  const env = (name: string) => {
    const n = Number(process.env[name]);
    if (!Number.isFinite(n) || n < 0)
      throw new Error(`${name} must be a number, got ${process.env[name]}`);
    return n;
  };
  const jobsPerSecond = env('NOOP_JOBS_PER_SECOND');
  const perQueue: Record<string, number> = {};
  let added = 0;
  let id = 0;
  /** Adds jobs at the rate for `seconds`, then waits until every one added so far completed. */
  const load = async (seconds: number, count: boolean): Promise<number> => {
    const t0 = performance.now();
    const start = added;
    while (performance.now() - t0 < seconds * 1000) {
      const due = start + Math.floor(((performance.now() - t0) / 1000) * jobsPerSecond);
      if (due > added) {
        const rows: DispatchableRow[] = [];
        for (; added < due; added++) {
          const s = sample[added % sample.length]!;
          if (count) perQueue[s.queue] = (perQueue[s.queue] ?? 0) + 1;
          rows.push({
            ...s,
            id: ++id,
            jobId: randomUUID(),
            traceparent: null,
            ageMs: 0,
            delayMs: 0,
          });
        }
        await enqueueRows(queueSet.shards, rows, ENQUEUE_TIMEOUT_MS);
      }
      await sleep(TICK_MS);
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${added - completed} no-op jobs not done in ${DRAIN_TIMEOUT_MS} ms`)),
        DRAIN_TIMEOUT_MS,
      );
      onCompleted = () => {
        if (completed >= added) {
          clearTimeout(timer);
          resolve();
        }
      };
      onCompleted();
    });
    return (performance.now() - t0) / 1000;
  };

  await load(env('NOOP_WARMUP_SECONDS'), false);
  const warmed = completed;
  await new Promise<NoopGo>((resolve) => {
    process.on('message', (m: NoopGo | { type: 'stop' }) => {
      if (m.type === 'go') resolve(m);
    });
    send({ type: 'ready' });
  });
  const seconds = await load(env('NOOP_SECONDS'), true);
  added -= warmed;
  completed -= warmed;
  send({ type: 'done', added, completed, seconds, perQueue });

  await new Promise<void>((resolve) => {
    process.on('message', (m: { type: string }) => {
      if (m.type === 'stop') resolve();
    });
    process.on('disconnect', resolve);
  });
  await Promise.all(workers.map((w) => w.worker.close()));
  for (const w of workers) w.connection.disconnect();
  await queueSet.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
    process.exit(1);
  },
);
