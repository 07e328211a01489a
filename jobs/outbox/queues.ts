import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../../lib/platform/config.js';
import type { Logger } from '../../lib/platform/logger.js';
import { QUEUE_NAMES, type QueueName } from '../../db/outbox/events.js';
import type { OutboxJobData } from './job-data.js';
import { closeRedis, createRedis, isCluster, redisTargetOf, type RedisClient } from '../redis.js';
import { bullmqTelemetry } from '../telemetry.js';
import { attemptsToCover, BACKOFF_TYPE, type RetryPolicy } from './retry-policy.js';

/**
 * The queues (QUEUE_NAMES), defined once: job options (retries, how long finished jobs stay) and
 * the BullMQ prefix. Producers (the relay, the reconciler, the web process's Bull Board) and the
 * workers all build their queues from here so they cannot disagree.
 */
export type OutboxQueue = Queue<OutboxJobData, unknown, string>;
/**
 * Each queue's first shard: the whole queue unless QUEUE_SHARDS_<QUEUE> splits it. Tests and tools
 * that look a job up by name use it; the service's own paths route through ShardedQueues.
 */
export type Queues = Record<QueueName, OutboxQueue>;
/** Each queue's shards, shard i at index i; one shard unless QUEUE_SHARDS_<QUEUE> says more. */
export type ShardedQueues = Record<QueueName, readonly OutboxQueue[]>;

export type QueueConfig = Pick<
  Config,
  'redisUrl' | 'redisTlsVerify' | 'redisClusterNodes' | 'bullPrefix' | 'queueShards' | 'jobs'
>;

/**
 * The BullMQ queue name of a shard: the queue's own name for shard 0, so one shard is exactly the
 * queue as it always was, and jobs queued before a split stay where the workers look.
 */
export function shardQueueName(queue: QueueName, shard: number): string {
  return shard === 0 ? queue : `${queue}.${shard}`;
}

/**
 * The shard of an order's jobs: FNV-1a of its id, so every job of one order lands on one shard in
 * every process, whichever writes it. Rows without an order go to shard 0.
 */
export function shardOf(orderId: string | null, shards: number): number {
  if (shards <= 1 || orderId === null) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < orderId.length; i++) {
    hash ^= orderId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/** The queue (shard) that holds the job of `queue` for this order. */
export function queueFor(
  shards: ShardedQueues,
  queue: QueueName,
  orderId: string | null,
): OutboxQueue {
  const list = shards[queue];
  return list[shardOf(orderId, list.length)]!;
}

/** Every shard of every queue. */
export function allQueues(shards: ShardedQueues): OutboxQueue[] {
  return Object.values(shards).flat();
}

/**
 * A worker's concurrency per shard: the queue's configured concurrency spread over its shards
 * (rounded up), so a worker process runs about as many jobs of a queue however it is split.
 */
export function shardConcurrency(concurrency: number, shards: number): number {
  return Math.max(1, Math.ceil(concurrency / shards));
}

/**
 * The BullMQ prefix of one queue. BullMQ's Lua scripts touch several keys of a queue at once, so on
 * a cluster all of them must hash to one slot, and queues spread over the masters only when each
 * has a hash tag of its own: `{<prefix>:<queue>}`, made here from BULLMQ_PREFIX with its braces
 * dropped, so `orders` and `{orders}` both work. On one Redis the prefix stays exactly as
 * configured: a deploy changes no key, and jobs queued before it are still found.
 */
export function queuePrefix(prefix: string, queue: string, cluster: boolean): string {
  if (!cluster) return prefix;
  return `{${prefix.replace(/[{}]/g, '')}:${queue}}`;
}

/** What every queue's prefix is under this configuration. */
export function prefixOf(config: Pick<QueueConfig, 'bullPrefix' | 'redisClusterNodes'>) {
  const cluster = isCluster({ url: '', clusterNodes: config.redisClusterNodes });
  return (queue: string) => queuePrefix(config.bullPrefix, queue, cluster);
}

/** Finished jobs kept at least this long, so a re-add of the same outbox row stays a no-op. */
const MIN_KEEP_COMPLETED_SECONDS = 3600;
/** Failed jobs stay a week: the window in which ops can inspect and retry them in Bull Board. */
const KEEP_FAILED_SECONDS = 7 * 24 * 3600;
/**
 * Count caps bound Redis memory under load (a completed job is ~1 KB; at 5,000 jobs/s an hour of
 * them would be gigabytes). Trimming by count is safe: the outbox row is marked completed before
 * its job completes, so the reconciler never mistakes a trimmed job for a lost one.
 */
const KEEP_COMPLETED_COUNT = 50_000;
const KEEP_FAILED_COUNT = 100_000;

/** Stack traces of the latest failed tries kept on a job. */
const STACK_TRACES_KEPT = 5;

/** The retry policy the configuration asks for. */
export function retryPolicyOf(jobs: QueueConfig['jobs']): RetryPolicy {
  return { baseMs: jobs.backoffMs, maxMs: jobs.backoffMaxMs, windowMs: jobs.retryWindowMs };
}

export function defaultJobOptions(jobs: QueueConfig['jobs']): JobsOptions {
  // Keep completed jobs well past the reconciler's window (a row is re-added only when it has been
  // open for reconcileAfterMs and its job is gone).
  const keepCompleted = Math.max(
    MIN_KEEP_COMPLETED_SECONDS,
    Math.ceil((2 * (jobs.reconcileAfterMs + jobs.reconcileEveryMs)) / 1000),
  );
  return {
    // Transient failures are retried for the retry window with capped, jittered delays (the
    // worker's backoff strategy, see retry-policy.ts); the attempt count only has to outlast it.
    attempts: attemptsToCover(retryPolicyOf(jobs)),
    backoff: { type: BACKOFF_TYPE, delay: jobs.backoffMs },
    // BullMQ keeps every failed try's stack trace on the job and rewrites them all on each retry:
    // over a day of retries that is thousands per job. The latest few are enough to debug.
    stackTraceLimit: STACK_TRACES_KEPT,
    removeOnComplete: { age: keepCompleted, count: KEEP_COMPLETED_COUNT },
    removeOnFail: { age: Math.max(keepCompleted, KEEP_FAILED_SECONDS), count: KEEP_FAILED_COUNT },
  };
}

export interface QueueSet {
  queues: Queues;
  shards: ShardedQueues;
  /** The one producer connection the queues share. */
  connection: RedisClient;
  close(): Promise<void>;
}

/** Every queue on one fail-fast producer connection. */
export function createQueues(config: QueueConfig, logger: Logger): QueueSet {
  const connection = createRedis(redisTargetOf(config), 'producer', 'order-service:producer');
  const prefix = prefixOf(config);
  // ioredis emits 'error' on every failed reconnect; the relay logs the failures that matter.
  connection.on('error', (err) => logger.debug({ err }, 'redis producer connection error'));
  const defaults = defaultJobOptions(config.jobs);
  const open = (name: string): OutboxQueue => {
    const queue: OutboxQueue = new Queue<OutboxJobData, unknown, string>(name, {
      connection,
      prefix: prefix(name),
      defaultJobOptions: defaults,
      telemetry: bullmqTelemetry(),
    });
    // Without a listener an 'error' event would crash the process.
    queue.on('error', (err) => logger.warn({ err, queue: name }, 'queue error'));
    return queue;
  };
  const shards = Object.fromEntries(
    QUEUE_NAMES.map((name) => [
      name,
      Array.from({ length: config.queueShards[name] }, (_, i) => open(shardQueueName(name, i))),
    ]),
  ) as Record<QueueName, OutboxQueue[]>;
  const queues = Object.fromEntries(QUEUE_NAMES.map((name) => [name, shards[name][0]!])) as Queues;
  return {
    queues,
    shards,
    connection,
    async close() {
      await Promise.all(allQueues(shards).map((q) => q.close()));
      await closeRedis(connection);
    },
  };
}
