import type { BackoffStrategy } from 'bullmq';

/**
 * How long and how often a job retries a transient failure (a peer down, slow, answering 5xx,
 * 408 or 429, a database hiccup): exponential backoff from `baseMs`, each delay capped at
 * `maxMs` and jittered, for `windowMs` from when the job was added. A peer outage shorter than
 * the window therefore heals by itself, and work resumes within one capped delay of the peer's
 * recovery; a permanent failure fails at once (see judge() in ./judge-failure.ts).
 *
 * BullMQ runs it as a custom backoff strategy (the worker's `settings.backoffStrategy`, picked by
 * the jobs' `backoff.type`), with `attempts` high enough to outlast the window, so the window,
 * not the attempt count, decides when a job gives up: the processor fails the job for good
 * (UnrecoverableError) on the first transient failure after the window.
 */
export interface RetryPolicy {
  /** The first retry's delay; each later one doubles, up to `maxMs`. */
  baseMs: number;
  /** Cap on one delay: after a peer recovers, every job tries again within this. */
  maxMs: number;
  /** How long, from when the job was added, transient failures are retried. */
  windowMs: number;
}

/** The jobs' `backoff.type`: BullMQ hands types it does not know to the worker's strategy. */
export const BACKOFF_TYPE = 'capped-exponential';

/**
 * Share of each delay that is random: a delay is drawn from [d × (1 − j), d]. Jobs that failed
 * together in one outage then come back spread over half a cap, not all in the same instant.
 */
export const RETRY_JITTER = 0.5;

/** 2^60 × any base exceeds any cap; it also keeps the power finite for absurd attempt counts. */
const MAX_DOUBLINGS = 60;

function uncapped(policy: RetryPolicy, attemptsMade: number): number {
  return policy.baseMs * 2 ** Math.min(Math.max(attemptsMade - 1, 0), MAX_DOUBLINGS);
}

/**
 * The delay before the next try, after `attemptsMade` failed tries (1 after the first failure,
 * as BullMQ counts): min(maxMs, baseMs × 2^(attemptsMade − 1)), less a random share of up to
 * RETRY_JITTER of it. Never more than `maxMs`, never below 1 ms.
 */
export function retryDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  random: () => number = Math.random,
): number {
  const capped = Math.min(policy.maxMs, uncapped(policy, attemptsMade));
  const delay = Math.round(capped * (1 - RETRY_JITTER) + random() * capped * RETRY_JITTER);
  return Math.max(1, Math.min(capped, delay));
}

/**
 * BullMQ's `attempts` for a job under this policy: enough tries that even if every delay is the
 * shortest the jitter allows (and each try took no time), they last the whole window. BullMQ's
 * count then never ends the retries early; the window does.
 */
export function attemptsToCover(policy: RetryPolicy): number {
  const shortest = (attemptsMade: number) => retryDelay(policy, attemptsMade, () => 0);
  let covered = 0;
  let retries = 0;
  while (covered < policy.windowMs) {
    const next = retries + 1;
    if (uncapped(policy, next) >= policy.maxMs) {
      // Every delay from here on is the capped one: the rest of the window in one step.
      retries += Math.ceil((policy.windowMs - covered) / shortest(next));
      break;
    }
    covered += shortest(next);
    retries = next;
  }
  return retries + 1;
}

/** The worker's `settings.backoffStrategy`. */
export function backoffStrategy(policy: RetryPolicy): BackoffStrategy {
  return (attemptsMade: number, type?: string) => {
    if (type !== BACKOFF_TYPE) throw new Error(`unknown backoff type ${JSON.stringify(type)}`);
    return retryDelay(policy, attemptsMade);
  };
}

/** True once a job added at `addedAt` (BullMQ's job.timestamp) has retried for the window. */
export function retryWindowOver(
  policy: Pick<RetryPolicy, 'windowMs'>,
  addedAt: number,
  now: number = Date.now(),
): boolean {
  return now - addedAt >= policy.windowMs;
}
