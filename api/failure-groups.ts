import { createHash } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Db } from '../db/client.js';
import { listDeadLetters } from '../db/dead-letters.js';
import type { DeadLetterRow } from '../db/schema.js';
import { ConflictError } from '../lib/domain/errors.js';
import {
  errorClassOf,
  groupFailures,
  normaliseCause,
  normaliseMessage,
  type FailureGroup,
} from '../lib/domain/failure-cause.js';
import { replayDeadLetter } from '../lib/orders/replay-dead-letter.js';
import type { OutboxJobData } from '../jobs/outbox/job-data.js';
import { allQueues, type OutboxQueue, type ShardedQueues } from '../jobs/outbox/queues.js';

/**
 * Failures grouped by cause, for the ops console: BullMQ's failed jobs across every queue (and
 * shard), and the dead letters not yet replayed. A group is named by a key made from its kind and
 * cause, stable while the cause is, so a confirmed action finds the group the admin saw.
 */

/** Failed jobs read per queue shard, newest first: the window the groups cover. */
export const FAILED_JOBS_READ_PER_QUEUE = 1000;
/** Dead letters read, oldest first (the order they wait in). */
export const DEAD_LETTERS_READ = 1000;
/** Jobs retried at once within one group action. */
const ACTION_CONCURRENCY = 10;

export type FailureKind = 'jobs' | 'dead-letters';

export function groupKey(kind: FailureKind, cause: string): string {
  return createHash('sha256').update(`${kind}\n${cause}`).digest('base64url').slice(0, 16);
}

export interface FailedJobSample {
  queue: string;
  job_id: string;
  order_id: string | null;
  failed_reason: string;
  attempts_made: number;
  failed_at: string;
}

export interface GroupView<S> {
  key: string;
  cause: string;
  count: number;
  first_seen: string;
  last_seen: string;
  /** Queues (jobs) or topics (dead letters). */
  sources: string[];
  sample: S;
}

export interface FailedJobGroups {
  groups: GroupView<FailedJobSample>[];
  /** Failed jobs the groups cover. */
  read: number;
  /** Some queue holds more failed jobs than were read: the oldest are in no group. */
  truncated: boolean;
}

interface FailedJob {
  queue: OutboxQueue;
  job: Job<OutboxJobData, unknown, string>;
}

function jobSample({ queue, job }: FailedJob): FailedJobSample {
  return {
    queue: queue.name,
    job_id: job.id ?? '',
    order_id: job.data?.orderId ?? null,
    failed_reason: job.failedReason ?? '',
    attempts_made: job.attemptsMade,
    failed_at: new Date(job.finishedOn ?? job.timestamp).toISOString(),
  };
}

function view<T, S>(kind: FailureKind, g: FailureGroup<T>, sample: (t: T) => S): GroupView<S> {
  return {
    key: groupKey(kind, g.cause),
    cause: g.cause,
    count: g.count,
    first_seen: g.firstSeen.toISOString(),
    last_seen: g.lastSeen.toISOString(),
    sources: g.sources,
    sample: sample(g.sample),
  };
}

async function readFailedJobs(queues: ShardedQueues) {
  const shards = allQueues(queues);
  const read = await Promise.all(
    shards.map(async (queue) => {
      const jobs = await queue.getFailed(0, FAILED_JOBS_READ_PER_QUEUE - 1);
      // A job removed between the listing and the read comes back empty.
      return {
        failed: jobs.filter(Boolean).map((job) => ({ queue, job })),
        full: jobs.length >= FAILED_JOBS_READ_PER_QUEUE,
      };
    }),
  );
  const failed = read.flatMap((r) => r.failed);
  const groups = groupFailures(
    failed.map((f) => ({
      // The newest stack trace is the latest attempt's: its first line names the error class.
      cause: normaliseCause(errorClassOf(f.job.stacktrace?.at(-1)), f.job.failedReason ?? ''),
      at: new Date(f.job.finishedOn ?? f.job.timestamp),
      source: f.queue.name,
      item: f,
    })),
  );
  return { groups, read: failed.length, truncated: read.some((r) => r.full) };
}

export async function failedJobGroups(queues: ShardedQueues): Promise<FailedJobGroups> {
  const { groups, read, truncated } = await readFailedJobs(queues);
  return { groups: groups.map((g) => view('jobs', g, jobSample)), read, truncated };
}

export interface DeadLetterSample {
  id: number;
  topic: string;
  partition: number;
  offset: string;
  reason: string;
  created_at: string;
}

const letterSample = (l: DeadLetterRow): DeadLetterSample => ({
  id: l.id,
  topic: l.topic,
  partition: l.partition,
  offset: l.offset.toString(),
  reason: l.reason,
  created_at: l.createdAt.toISOString(),
});

async function readDeadLetterGroups(db: Db) {
  const letters = await listDeadLetters(db, { limit: DEAD_LETTERS_READ });
  const groups = groupFailures(
    letters.map((l) => ({
      cause: normaliseMessage(l.reason),
      at: l.createdAt,
      source: l.topic,
      item: l,
    })),
  );
  return { groups, read: letters.length };
}

export async function deadLetterGroups(
  db: Db,
): Promise<{ groups: GroupView<DeadLetterSample>[]; read: number }> {
  const { groups, read } = await readDeadLetterGroups(db);
  return { groups: groups.map((g) => view('dead-letters', g, letterSample)), read };
}

/** The group the admin confirmed, as it is now; refuses when it is gone or its count moved. */
function confirmed<T>(
  kind: FailureKind,
  groups: FailureGroup<T>[],
  key: string,
  count: number,
): FailureGroup<T> {
  const group = groups.find((g) => groupKey(kind, g.cause) === key);
  const now = group?.count ?? 0;
  // Nothing is done on a stale confirmation: the admin decides again on what is there now.
  if (now !== count) {
    throw new ConflictError(
      `group ${key} has ${now} failures now, not the ${count} confirmed; look again and ` +
        'confirm the new count',
      'count',
    );
  }
  return group!;
}

async function eachBounded<T, R>(items: T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += ACTION_CONCURRENCY) {
    results.push(...(await Promise.all(items.slice(i, i + ACTION_CONCURRENCY).map(run))));
  }
  return results;
}

export interface GroupRetryResult {
  key: string;
  cause: string;
  confirmed: number;
  retried: number;
  /** Jobs that were no longer failed when their turn came (retried by someone else, removed). */
  skipped: number;
}

/**
 * Retries every failed job of the confirmed group the way Bull Board's retry does (job.retry
 * from `failed`), so the job runs through the outbox runner again with all its rules: the row's
 * job id guard, its failure marks, completion clearing the failure.
 */
export async function retryFailedJobGroup(
  queues: ShardedQueues,
  key: string,
  count: number,
): Promise<GroupRetryResult> {
  const { groups } = await readFailedJobs(queues);
  const group = confirmed('jobs', groups, key, count);
  const outcomes = await eachBounded(group.items, async ({ job }) => {
    if ((await job.getState()) !== 'failed') return false;
    try {
      await job.retry('failed');
      return true;
    } catch (err) {
      // Retried (or removed) by someone else between the look and the retry: skipped, as above.
      if ((await job.getState()) !== 'failed') return false;
      throw err;
    }
  });
  const retried = outcomes.filter(Boolean).length;
  return { key, cause: group.cause, confirmed: count, retried, skipped: count - retried };
}

export interface GroupReplayResult {
  key: string;
  cause: string;
  confirmed: number;
  replayed: number;
  /** Letters intake still refused (or that were replayed meanwhile), with why. */
  refused: { id: number; reason: string }[];
}

/** Replays every dead letter of the confirmed group through the one replay path. */
export async function replayDeadLetterGroup(
  db: Db,
  key: string,
  count: number,
): Promise<GroupReplayResult> {
  const { groups } = await readDeadLetterGroups(db);
  const group = confirmed('dead-letters', groups, key, count);
  const refused: { id: number; reason: string }[] = [];
  let replayed = 0;
  // One at a time, oldest first: the order the consumer met them in, so two letters of one order
  // (shipped, then cancelled) are taken in as they came.
  for (const letter of group.items) {
    try {
      await replayDeadLetter(db, letter.id);
      replayed += 1;
    } catch (err) {
      // A letter still unusable stays a dead letter, as a single replay leaves it; anything else
      // (Postgres down, a bug) is the action's own failure.
      if (!(err instanceof ConflictError)) throw err;
      refused.push({ id: letter.id, reason: err.message });
    }
  }
  return { key, cause: group.cause, confirmed: count, replayed, refused };
}
