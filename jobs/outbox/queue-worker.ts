import { Worker } from 'bullmq';
import type { Db } from '../../db/client.js';
import type { Logger } from '../../lib/platform/logger.js';
import { withinMs } from '../../lib/platform/timeout.js';
import type { OutboxJobData } from './job-data.js';
import {
  createOutboxJobRunner,
  type OutboxJobRunnerDeps,
  type OutboxProcessor,
} from './run-job.js';
import type { ShardedQueues } from './queues.js';
import { closeRedis, createRedis, type RedisTarget } from '../redis.js';
import { backoffStrategy, type RetryPolicy } from './retry-policy.js';
import { bullmqTelemetry } from '../telemetry.js';
import { rerunUnjudged } from './unjudged-failure.js';

/**
 * One BullMQ Worker for one processor on one shard of its queue, on its own worker-grade Redis
 * connection, with a bounded close: BullMQ's close() waits for active jobs without a limit.
 */
export interface QueueWorkerOptions {
  processor: OutboxProcessor;
  db: Db;
  queues: ShardedQueues;
  logger: Logger;
  redis: RedisTarget;
  /** The BullMQ queue this worker takes jobs from: one shard of the processor's queue. */
  queueName: string;
  /** That queue's BullMQ prefix (queues.ts prefixOf). */
  prefix: string;
  concurrency: number;
  /** How transient failures are retried: the backoff strategy and the window. */
  retry: RetryPolicy;
  onOutcome?: OutboxJobRunnerDeps['onOutcome'];
}

export interface QueueWorker {
  readonly worker: Worker<OutboxJobData, void, string>;
  /** Stops taking jobs; waits up to `timeoutMs` for running ones, then abandons them. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Never reached in practice; a limiter must be set for queue.rateLimit() (called on a peer's 429)
 * to pause every worker of the queue in every process, not only the one that saw the 429. Only
 * on the queues whose processor pauses on a 429 (OutboxProcessor.pausesOnRateLimit): the limiter
 * reads its counter on every fetch and counts every job, about 4.5 Redis commands a job.
 */
const LIMITER = { max: 1_000_000_000, duration: 1000 };

export function createQueueWorker(options: QueueWorkerOptions): QueueWorker {
  const { processor, db, queues, logger } = options;
  const name = options.queueName;
  const log = logger.child({ component: 'worker', queue: name });
  const connection = createRedis(options.redis, 'worker', `order-service:worker:${name}`);
  connection.on('error', (err) => log.debug({ err }, 'redis worker connection error'));
  const runner = createOutboxJobRunner(
    {
      db,
      logger: log,
      // A peer's 429 concerns the whole queue: every shard waits.
      rateLimit: async (ms) => {
        await Promise.all(queues[processor.queue].map((q) => q.rateLimit(ms)));
      },
      retryWindowMs: options.retry.windowMs,
      onOutcome: options.onOutcome,
    },
    processor,
  );
  const worker = new Worker<OutboxJobData, void, string>(name, runner, {
    connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    ...(processor.pausesOnRateLimit ? { limiter: LIMITER } : {}),
    telemetry: bullmqTelemetry(),
    // Delays for the jobs' custom backoff type (./queues.ts sets it on every job).
    settings: { backoffStrategy: backoffStrategy(options.retry) },
  });
  // Without a listener an 'error' event would crash the process; BullMQ reconnects by itself.
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  // BullMQ fails a job that stalled more than maxStalledCount times as the next worker picks it
  // up, without running the processor (its deferredFailure): no verdict of ours, so it runs again
  // at once. The reconciler does the same for every such job, this one included, should this
  // process die first.
  worker.on('failed', (job) => {
    if (!job?.deferredFailure) return;
    rerunUnjudged(db, job, log).catch((err: unknown) =>
      log.error({ err, job_id: job.id }, 'could not put back a job BullMQ failed by itself'),
    );
  });

  return {
    worker,
    async close(timeoutMs) {
      const closing = worker.close();
      const outcome = await withinMs(
        closing.then(() => 'closed' as const),
        timeoutMs,
        () => 'timeout' as const,
      );
      if (outcome === 'timeout') {
        // close(true) cannot cut short a close() already waiting (it returns the same promise),
        // and closing the Redis connection under a running job sends BullMQ into a retry loop
        // with no delay. So the running jobs are left to finish in the background and their
        // connection is closed after them; the process normally exits first, in which case their
        // locks expire and another worker runs them again (every processor is idempotent).
        log.warn(
          { timeout_ms: timeoutMs },
          'jobs still running at the shutdown deadline; not waiting for them',
        );
        closing
          .then(() => closeRedis(connection))
          .catch((err: unknown) => log.warn({ err }, 'worker close failed after the deadline'));
        return;
      }
      await closeRedis(connection);
    },
  };
}
