/**
 * Measures the outbox relay against local Postgres and Redis (a fresh database and a unique
 * BullMQ prefix, both removed afterwards):
 *   1. commit → job start: one row at a time, the time from its commit returning to the
 *      notifications processor being called, through the real worker wiring (LISTEN/NOTIFY,
 *      relay, addBulk, BullMQ worker, the shared job wrapper);
 *   2. relay throughput: 20,000 committed rows drained by drainOnce, per batch size.
 * Usage: tsx scripts/bench-relay.ts [samples=300] [rows=20000]
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { insertOutboxRows } from '../db/outbox.js';
import { outbox } from '../db/schema.js';
import type { OutboxProcessor } from '../jobs/processors/run-outbox-job.js';
import { createQueues } from '../jobs/queues.js';
import { createRelay } from '../jobs/relay.js';
import { startWorker } from '../jobs/worker.js';
import { loadConfig } from '../lib/config.js';
import { silentLogger } from '../lib/logger.js';
import { notification } from '../lib/outbox-events.js';
import { createTestDatabase } from '../test/support/database.js';
import { createTestRedisPrefix } from '../test/support/redis.js';

const samples = Number(process.argv[2] ?? 300);
const totalRows = Number(process.argv[3] ?? 20_000);

function row(i: number) {
  return notification({ id: randomUUID(), userId: 'bench' }, 'order.created', `bench ${i}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function main(): Promise<void> {
  const tdb = await createTestDatabase('bench');
  const redis = createTestRedisPrefix();
  const logger = silentLogger();
  try {
    const config = loadConfig({
      DATABASE_URL: tdb.url,
      REDIS_URL: redis.url,
      BULLMQ_PREFIX: redis.prefix,
      PAYMENTS_SERVICE_API_URL: 'http://127.0.0.1:1/',
      NOTIFICATIONS_SERVICE_API_URL: 'http://127.0.0.1:1/',
    });

    // 1. commit → job start
    const started = new Map<number, number>();
    let onStart: (() => void) | undefined;
    const recorder: OutboxProcessor<'notifications'> = {
      queue: 'notifications',
      async handle({ data }) {
        started.set(data.outboxId, performance.now());
        onStart?.();
      },
    };
    const worker = await startWorker(config, {
      database: tdb,
      logger,
      processors: [recorder],
    });
    const latencies: number[] = [];
    for (let i = 0; i < samples + 20; i++) {
      const jobStarted = new Promise<void>((resolve) => (onStart = resolve));
      const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [row(i)]));
      const committed = performance.now();
      await jobStarted;
      // The first rows warm up connections and JIT; leave them out.
      if (i >= 20) latencies.push(started.get(id!)! - committed);
    }
    await worker.stop();
    latencies.sort((a, b) => a - b);
    console.log(
      `commit → job start over ${latencies.length} rows: p50 ${fmt(percentile(latencies, 50))}, ` +
        `p99 ${fmt(percentile(latencies, 99))}, max ${fmt(latencies[latencies.length - 1]!)}`,
    );

    // 2. relay throughput
    await tdb.db.delete(outbox);
    await redis.flush();
    const queueSet = createQueues(config, logger);
    for (const batchSize of [500, 1000]) {
      for (let done = 0; done < totalRows; done += 2000) {
        const chunk = Array.from({ length: Math.min(2000, totalRows - done) }, (_, i) =>
          row(done + i),
        );
        await tdb.db.transaction((tx) => insertOutboxRows(tx, chunk));
      }
      const relay = createRelay({
        db: tdb.db,
        databaseUrl: tdb.url,
        queues: queueSet.queues,
        logger,
        batchSize,
      });
      const t0 = performance.now();
      const { enqueued } = await relay.drainOnce();
      const seconds = (performance.now() - t0) / 1000;
      if (enqueued !== totalRows)
        throw new Error(`expected ${totalRows} rows, relayed ${enqueued}`);
      console.log(
        `relay throughput, batch ${batchSize}: ${enqueued} rows in ${seconds.toFixed(2)} s = ` +
          `${Math.round(enqueued / seconds)} rows/s`,
      );
      await tdb.db.delete(outbox);
      await redis.flush();
    }
    await queueSet.close();
  } finally {
    await redis.flush();
    await tdb.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
