import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { performance } from 'node:perf_hooks';
import type { Db } from '../../db/client.js';
import {
  getOutboxState,
  markOutboxCompleted,
  markOutboxFailed,
  recordOutboxAttemptFailed,
  type OutboxState,
} from '../../db/outbox/rows.js';
import type { Logger } from '../../lib/platform/logger.js';
import { retryWindowOver } from './retry-policy.js';
import { parsePayload, type QueueName, type QueuePayloads } from '../../db/outbox/events.js';
import { isJobOfRow, type OutboxJobData } from './job-data.js';
import { ForeignJobError, judge } from './judge-failure.js';

/**
 * The one path every outbox job takes: refuse it when it was made from another row than the one
 * now under its outbox id, skip it when its row is already completed (a duplicate job), check the
 * payload, do the work, complete the row. The row is read first, in a round trip of its own,
 * unless the processor reads it in its own transaction (checksRow). On error it decides, in this
 * one place, whether BullMQ retries, waits out a peer's 429, or fails the job at once, and records
 * the outcome on the outbox row.
 */
export type OutboxJob = Job<OutboxJobData, unknown, string>;

export interface OutboxJobContext<P> {
  job: OutboxJob;
  /**
   * The worker's lock on the job, for `job.moveToDelayed(at, token)`: a processor that must wait
   * for something (an earlier webhook of the order) moves its job and throws BullMQ's
   * DelayedError, which the runner passes on without using up an attempt or judging a failure.
   */
  token?: string;
  data: OutboxJobData;
  payload: P;
  /** Carries queue, job_id, order_id, outbox_id: use it for every line about this job. */
  log: Logger;
}

export interface OutboxProcessor<Q extends QueueName = QueueName> {
  readonly queue: Q;
  /**
   * True when `handle` completes the outbox row itself inside its own transaction (the inbox
   * processor does, so that applying an event and completing its row commit together).
   */
  readonly completesRow?: boolean;
  /**
   * True when `handle` reads the job's outbox row itself, in the round trip that opens its own
   * transaction, and does and writes nothing unless it is an open row of this job (the inbox
   * processor, whose lock reads the row too). The runner then skips its own read of the row, and
   * `handle` returns what it found when the row was not open (gone, completed, another job's):
   * the job then ends as that read would have ended it (skipped, or ForeignJobError).
   */
  readonly checksRow?: boolean;
  /**
   * True when the processor calls a peer that may answer 429 with Retry-After: its queue then
   * pauses as a whole for that long. That needs BullMQ's limiter on the queue's workers, whose
   * counter costs Redis commands on every fetch, so queues whose work cannot be told to slow
   * down (the inbox, Kafka, a client's webhook receiver) go without it, and a 429 there would
   * be retried with backoff like any other transient failure.
   */
  readonly pausesOnRateLimit?: boolean;
  handle(ctx: OutboxJobContext<QueuePayloads[Q]>): Promise<void | RowNotOpen>;
  /**
   * Called once when the runner gives the job up (after its row is marked failed): the retry
   * window is over or its attempts are used up (`retry-window`), or the failure is one retrying
   * cannot cure (`incurable`). What giving up means beyond the failed row is the processor's.
   * Its own failure is logged, never thrown: the job's outcome stands.
   */
  onGivenUp?(
    ctx: Omit<OutboxJobContext<unknown>, 'payload'>,
    given: { why: 'retry-window' | 'incurable'; error: string },
  ): Promise<void>;
}

/** What a processor that reads its own row (checksRow) returns when that row was not open. */
export interface RowNotOpen {
  /** The job's outbox row as the processor read it; undefined when it is gone. */
  rowNotOpen: OutboxState | undefined;
}

export interface OutboxJobRunnerDeps {
  db: Db;
  logger: Logger;
  /** Pauses the whole queue (every worker, every process) for `ms`: a peer said 429. */
  rateLimit(ms: number): Promise<void>;
  /**
   * How long after a job was added its transient failures are retried (retry-policy.ts); the
   * first one after that fails the job for good.
   */
  retryWindowMs: number;
  /** Per attempt, for metrics: how it ended and how long it took. */
  onOutcome?(event: { queue: QueueName; outcome: JobOutcome; ms: number }): void;
}

/**
 * skipped: a duplicate job (row already completed or gone); delayed: the processor moved it to
 * wait (no attempt used); the rest are what `judge` decided.
 */
export type JobOutcome = 'completed' | 'skipped' | 'delayed' | 'retry' | 'rate-limited' | 'failed';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function createOutboxJobRunner(
  deps: OutboxJobRunnerDeps,
  processor: OutboxProcessor,
): (job: OutboxJob, token?: string) => Promise<void> {
  const { db, logger } = deps;
  const { queue } = processor;

  /**
   * What the job's row, as read, leaves to do: nothing ('skipped', logged) when it is gone or
   * completed; undefined when it is an open row of this job. Throws ForeignJobError when it is
   * another job's row.
   */
  function rowVerdict(
    job: OutboxJob,
    state: OutboxState | undefined,
    log: Logger,
  ): 'skipped' | undefined {
    const { data } = job;
    if (!state) {
      // Retention deletes only completed rows, so a missing row was done long ago.
      log.warn('outbox row not found; job skipped');
      return 'skipped';
    }
    if (!isJobOfRow(data, { id: data.outboxId, jobId: state.jobId })) {
      throw new ForeignJobError(job, state.jobId);
    }
    if (state.completed) {
      // A duplicate job, or a payment check made moot when its order left `new`.
      log.info('outbox row already completed; job skipped');
      return 'skipped';
    }
    return undefined;
  }

  async function run(
    job: OutboxJob,
    token: string | undefined,
    log: Logger,
  ): Promise<'completed' | 'skipped'> {
    const { data } = job;
    if (!processor.checksRow) {
      const verdict = rowVerdict(job, await getOutboxState(db, data.outboxId), log);
      if (verdict) return verdict;
    }
    let payload: QueuePayloads[QueueName];
    try {
      payload = parsePayload(queue, data.payload);
    } catch (err) {
      // Without its payload the processor cannot read its row: read here, so a job whose row is
      // done or another job's ends as such, not as a broken payload.
      if (processor.checksRow) {
        const verdict = rowVerdict(job, await getOutboxState(db, data.outboxId), log);
        if (verdict) return verdict;
      }
      throw err;
    }
    const found = await processor.handle({ job, token, data, payload, log });
    if (found) {
      const verdict = rowVerdict(job, found.rowNotOpen, log);
      if (verdict) return verdict;
      throw new Error(`${queue} processor found outbox row ${data.outboxId} not open, but it is`);
    }
    if (!processor.completesRow) {
      await markOutboxCompleted(db, { id: data.outboxId, jobId: data.jobId });
    }
    return 'completed';
  }

  /** Records the failure on the row and returns what to throw to BullMQ. */
  async function failed(
    job: OutboxJob,
    err: unknown,
    log: Logger,
  ): Promise<{ outcome: JobOutcome; error: Error }> {
    let verdict = judge(err);
    if (verdict.kind === 'rate-limited' && !processor.pausesOnRateLimit)
      verdict = { kind: 'retry' };
    if (verdict.kind === 'rate-limited') {
      try {
        await deps.rateLimit(verdict.ms);
      } catch (limitErr) {
        log.warn({ err: limitErr }, 'could not pause queue; retrying with backoff instead');
        verdict = { kind: 'retry' };
      }
    }
    const message = messageOf(err);
    const attemptsLeft = (job.opts.attempts ?? 1) - (job.attemptsMade + 1);
    const windowOver = retryWindowOver({ windowMs: deps.retryWindowMs }, job.timestamp);
    const givesUp = verdict.kind === 'retry' && (attemptsLeft <= 0 || windowOver);
    const final = verdict.kind === 'fail' || givesUp;
    // Guarded by the job id too: a job that turns out not to be its row's never writes to it.
    const ref = { id: job.data.outboxId, jobId: job.data.jobId };
    try {
      // Undefined in a job made before rows had job ids (Redis may still hold one): no row is its.
      if (ref.jobId !== undefined) {
        if (final) await markOutboxFailed(db, ref, message);
        else await recordOutboxAttemptFailed(db, ref, message);
      }
    } catch (dbErr) {
      // The job's own outcome still goes to BullMQ; this row stays open with its job in Redis.
      log.error({ err: dbErr, job_error: message }, 'could not record job failure on outbox row');
    }
    if (final && processor.onGivenUp) {
      const why = givesUp ? 'retry-window' : 'incurable';
      try {
        await processor.onGivenUp({ job, data: job.data, log }, { why, error: message });
      } catch (hookErr) {
        log.error({ err: hookErr, job_error: message }, 'could not finish giving the job up');
      }
    }
    switch (verdict.kind) {
      case 'rate-limited':
        log.warn({ err, wait_ms: verdict.ms }, 'peer asked to slow down; queue paused');
        // Sends the job back to wait without using up an attempt.
        return { outcome: 'rate-limited', error: Worker.RateLimitError() };
      case 'fail':
        log.error({ err, attempts: job.attemptsMade + 1 }, 'job failed for good');
        return { outcome: 'failed', error: unrecoverable(verdict.reason, err) };
      case 'retry': {
        const attempts = job.attemptsMade + 1;
        const retryUntil = new Date(job.timestamp + deps.retryWindowMs).toISOString();
        if (!givesUp) {
          log.warn({ err, retry_until: retryUntil }, 'job attempt failed; will retry');
          return { outcome: 'retry', error: toError(err) };
        }
        if (attemptsLeft <= 0) {
          log.error({ err, attempts }, 'job failed for good: attempts used up');
          return { outcome: 'failed', error: toError(err) };
        }
        // BullMQ would retry (attempts are left): stop it, and say why on the job.
        log.error(
          { err, attempts, retry_until: retryUntil },
          'job failed for good: retry window over',
        );
        return {
          outcome: 'failed',
          error: unrecoverable(
            `${message} (gave up: still failing after the retry window of ${deps.retryWindowMs} ms)`,
            err,
          ),
        };
      }
    }
  }

  return async (job, token) => {
    const log = logger.child({
      queue,
      job_id: job.id,
      order_id: job.data.orderId,
      outbox_id: job.data.outboxId,
      attempt: job.attemptsMade + 1,
    });
    const started = performance.now();
    const report = (outcome: JobOutcome) =>
      deps.onOutcome?.({ queue, outcome, ms: performance.now() - started });
    let outcome: JobOutcome;
    try {
      outcome = await run(job, token, log);
    } catch (err) {
      if (err instanceof DelayedError) {
        // The processor moved the job to wait: no attempt used, nothing failed.
        report('delayed');
        throw err;
      }
      if (err instanceof ForeignJobError) {
        log.error({ err }, 'job belongs to another outbox row; not run, row left alone');
        report('failed');
        throw err;
      }
      const failure = await failed(job, err, log);
      report(failure.outcome);
      throw failure.error;
    }
    report(outcome);
  };
}

/**
 * Tells BullMQ not to retry, keeping the cause's stack trace: BullMQ stores the stack, whose first
 * line then names the real error class (PeerRejectedError, …) for Bull Board and the ops
 * console's failure groups, instead of UnrecoverableError for every job failed for good.
 */
function unrecoverable(message: string, cause: unknown): UnrecoverableError {
  const error = new UnrecoverableError(message);
  if (cause instanceof Error && cause.stack) {
    const frames = cause.stack.split('\n').slice(1).join('\n');
    error.stack = `${cause.name}: ${message}${frames ? `\n${frames}` : ''}`;
  }
  return error;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
