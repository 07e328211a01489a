/**
 * The outbox relay on its own (targets 2 and 3), in this process, through the real worker wiring
 * (LISTEN/NOTIFY, relay, addBulk, a BullMQ worker, the shared job wrapper) with a processor that
 * only records when it was called:
 *   - commit → job start: one row at a time, from its commit returning to the processor being
 *     called (the job's own work starts there), split at the job's BullMQ stamps;
 *   - relay throughput: committed rows drained by drainOnce, per batch size.
 * scripts/bench/relay-main.ts runs it on its own.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Database } from '../../db/client.js';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { outbox } from '../../db/schema.js';
import type { OutboxProcessor } from '../../jobs/outbox/run-job.js';
import { createQueues } from '../../jobs/outbox/queues.js';
import { createRelay } from '../../jobs/outbox/relay.js';
import { startWorker } from '../../jobs/start-worker.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { notification } from '../../db/outbox/events.js';
import { epochMs, summarize, type Summary } from './stats.js';

export interface RelayBenchOptions {
  /** The caller's database; its pool is shared with the worker started here. */
  database: Database & { url: string };
  redis: { url: string; prefix: string; flush(): Promise<unknown> };
  /** Rows timed one at a time (after 20 warm-up rows). */
  samples: number;
  /** Rows drained per throughput run. */
  rows: number;
  batchSizes: number[];
  signal?: AbortSignal;
}

export interface RelayLatency {
  /** Commit returned → processor called, ms. */
  total: Summary;
  /**
   * Where it went, at BullMQ's stamps: job.timestamp (Date.now() when the relay's addBulk built the
   * job) and job.processedOn (Date.now() when the worker called moveToActive); whole milliseconds.
   */
  hops: {
    /** Commit → the relay called addBulk (NOTIFY delivery, wake-up, BEGIN, claim). */
    commitToAdded: Summary;
    /** addBulk → the worker calls moveToActive (Redis, the worker's blocking wait waking up). */
    addedToActive: Summary;
    /** moveToActive → processor called (its round trip, the wrapper's outbox-state query). */
    activeToHandler: Summary;
  };
}

export interface RelayThroughput {
  batchSize: number;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
}

export interface RelayResults {
  latency: RelayLatency;
  throughput: RelayThroughput[];
}

const WARMUP_ROWS = 20;
/** Bound on one row's wait for its job: the relay's fallback poll is 1 s, so this is generous. */
const ROW_TIMEOUT_MS = 10_000;
/** Rows per insert transaction when filling the table for a throughput run. */
const FILL_CHUNK = 2000;

function row(i: number) {
  return notification({ id: randomUUID(), userId: 'bench' }, 'order.created', `bench ${i}`);
}

export async function runRelayBench(options: RelayBenchOptions): Promise<RelayResults> {
  const { database, redis, signal } = options;
  const logger = silentLogger();
  const config = loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    BULLMQ_PREFIX: redis.prefix,
    // Unused: the recorder below replaces the processors that would call them.
    PAYMENTS_SERVICE_API_URL: 'http://127.0.0.1:1/',
    NOTIFICATIONS_SERVICE_API_URL: 'http://127.0.0.1:1/',
  });
  const { db } = database;

  // 1. commit → job start
  const started = new Map<number, { at: number; added: number; active: number }>();
  let onStart: (() => void) | undefined;
  const recorder: OutboxProcessor<'notifications'> = {
    queue: 'notifications',
    async handle({ data, job }) {
      started.set(data.outboxId, {
        at: epochMs(),
        added: job.timestamp,
        active: job.processedOn ?? Number.NaN,
      });
      onStart?.();
    },
  };
  const worker = await startWorker(config, { database, logger, processors: [recorder] });
  const total: number[] = [];
  const commitToAdded: number[] = [];
  const addedToActive: number[] = [];
  const activeToHandler: number[] = [];
  try {
    for (let i = 0; i < options.samples + WARMUP_ROWS; i++) {
      signal?.throwIfAborted();
      let timer: NodeJS.Timeout | undefined;
      const jobStarted = new Promise<void>((resolve, reject) => {
        onStart = resolve;
        timer = setTimeout(
          () => reject(new Error(`row ${i}: no job start within ${ROW_TIMEOUT_MS} ms`)),
          ROW_TIMEOUT_MS,
        );
      });
      const [id] = await db.transaction((tx) => insertOutboxRows(tx, [row(i)]));
      const committed = epochMs();
      await jobStarted.finally(() => clearTimeout(timer));
      // The first rows warm up connections and JIT; leave them out.
      if (i < WARMUP_ROWS) continue;
      const s = started.get(id!)!;
      total.push(s.at - committed);
      commitToAdded.push(s.added - committed);
      addedToActive.push(s.active - s.added);
      activeToHandler.push(s.at - s.active);
    }
  } finally {
    await worker.stop();
  }
  const latency: RelayLatency = {
    total: summarize(total),
    hops: {
      commitToAdded: summarize(commitToAdded),
      addedToActive: summarize(addedToActive),
      activeToHandler: summarize(activeToHandler),
    },
  };

  // 2. relay throughput
  await db.delete(outbox);
  await redis.flush();
  const queueSet = createQueues(config, logger);
  const throughput: RelayThroughput[] = [];
  try {
    for (const batchSize of options.batchSizes) {
      signal?.throwIfAborted();
      for (let done = 0; done < options.rows; done += FILL_CHUNK) {
        const chunk = Array.from({ length: Math.min(FILL_CHUNK, options.rows - done) }, (_, i) =>
          row(done + i),
        );
        await db.transaction((tx) => insertOutboxRows(tx, chunk));
      }
      const relay = createRelay({
        db,
        databaseUrl: database.url,
        queues: queueSet.shards,
        logger,
        batchSize,
      });
      const t0 = performance.now();
      const { enqueued } = await relay.drainOnce();
      const seconds = (performance.now() - t0) / 1000;
      if (enqueued !== options.rows) {
        throw new Error(`expected ${options.rows} rows relayed, got ${enqueued}`);
      }
      throughput.push({
        batchSize,
        rows: enqueued,
        seconds,
        rowsPerSecond: enqueued / seconds,
      });
      await db.delete(outbox);
      await redis.flush();
    }
  } finally {
    await queueSet.close();
  }
  return { latency, throughput };
}
