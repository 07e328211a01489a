/**
 * How an outbox job's failure is judged: retry it (BullMQ's backoff, ./retry-policy.ts), pause
 * the queue for a Retry-After, or fail it for good. One place for the decision, by error type.
 */
import { UnrecoverableError } from 'bullmq';
import { AppError, PeerUnavailableError } from '../../lib/domain/errors.js';
import { InvalidJobPayloadError } from '../../db/outbox/events.js';
import { classifyFailure, incurableReason } from '../../lib/platform/retry.js';
import type { OutboxJob } from './run-job.js';

/** A Retry-After beyond this is capped: one header must not stall a queue for hours. */
export const MAX_RATE_LIMIT_MS = 5 * 60_000;

export type Verdict =
  { kind: 'retry' } | { kind: 'rate-limited'; ms: number } | { kind: 'fail'; reason: string };

/**
 * The retry-or-fail decision. What retrying cannot cure (classifyFailure: a bug, data Postgres
 * refuses, a peer's 4xx) fails at once with its reason; unavailability and unknown errors (a
 * database hiccup, say) are retried within the retry window.
 */
export function judge(err: unknown): Verdict {
  if (err instanceof PeerUnavailableError) {
    const seconds = err.retryAfterSeconds;
    return seconds && seconds > 0
      ? { kind: 'rate-limited', ms: Math.min(seconds * 1000, MAX_RATE_LIMIT_MS) }
      : { kind: 'retry' };
  }
  if (err instanceof UnrecoverableError) return { kind: 'fail', reason: err.message };
  if (err instanceof InvalidJobPayloadError) return { kind: 'fail', reason: err.message };
  if (err instanceof AppError && !err.retriable) return { kind: 'fail', reason: err.message };
  if (classifyFailure(err) === 'incurable') return { kind: 'fail', reason: incurableReason(err) };
  return { kind: 'retry' };
}

/**
 * The job was made from another row than the one now under its outbox id: a restored or
 * re-created database hands serial ids out again while Redis keeps the earlier rows' jobs (one
 * retried from Bull Board, say). It must not run its old payload nor touch the new row.
 */
export class ForeignJobError extends UnrecoverableError {
  constructor(job: OutboxJob, rowJobId: string) {
    super(
      `job ${job.id} belongs to another outbox row: it was made for job id ` +
        `${job.data.jobId ?? '(none)'} of row ${job.data.outboxId}, and that row is now job id ` +
        `${rowJobId} (a restored or re-created database reuses outbox ids); not run`,
    );
    this.name = new.target.name;
  }
}
