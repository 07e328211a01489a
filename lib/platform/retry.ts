import pRetry, { AbortError } from 'p-retry';
import { AppError } from '../domain/errors.js';
import { databaseErrorIn, isDataRefused, isDatabaseUnavailable } from './postgres-errors.js';

/**
 * The one way a step is retried inside a process (BullMQ's job retries stay BullMQ's:
 * jobs/outbox/retry-policy.ts). Built on p-retry: capped exponential backoff with jitter, stopped by an
 * AbortSignal (shutdown). Two kinds of failure are never retried and fail at once with the
 * original error, so that no loop holds its work behind an error that waiting cannot heal:
 * - programming errors (see isProgrammingError): a bug fails the same way on every try;
 * - whatever the caller's `permanent` says retrying cannot fix.
 * What giving up means is the caller's: a dead letter, an exit for a restart, an error answer.
 */
export interface Backoff {
  /** The first delay; each later one doubles, up to `maxMs`. */
  minMs: number;
  maxMs: number;
}

export interface RetryOptions {
  backoff: Backoff;
  /** Tries after the first. @defaultValue Infinity: until success, a permanent failure or abort */
  retries?: number;
  /** Stops retrying (shutdown): the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Failures that retrying cannot fix, besides programming errors. */
  permanent?(err: Error): boolean;
  /** After each failure that will be retried, before the wait (log it, heartbeat); throwing stops. */
  onRetry?(err: Error, attempt: number): void | Promise<void>;
}

// The built-in errors that mean the code is wrong, not the world: they fail the same way again.
const PROGRAMMING_ERRORS = [
  TypeError,
  ReferenceError,
  SyntaxError,
  RangeError,
  EvalError,
  URIError,
];
// Wrappers add context (drizzle wraps every failed query, cause = what the driver threw).
const MAX_CAUSES = 5;

/**
 * The programming error `err` is or wraps (`cause`), if any: a built-in TypeError, ReferenceError,
 * SyntaxError, RangeError, EvalError or URIError. Node's own fetch reports network failures as
 * TypeError('fetch failed'); this service calls its peers with node-fetch (FetchError), so on its
 * paths every TypeError is a bug.
 */
export function programmingErrorIn(err: unknown): Error | undefined {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth <= MAX_CAUSES; depth++) {
    if (PROGRAMMING_ERRORS.some((kind) => e instanceof kind)) return e;
    e = e.cause;
  }
  return undefined;
}

export function isProgrammingError(err: unknown): boolean {
  return programmingErrorIn(err) !== undefined;
}

/**
 * What retrying can cure, decided once for every loop that retries (the shipping consumer's hold on
 * a partition, the outbox jobs' verdict in jobs/outbox/judge-failure.ts):
 * - `unavailable`: something this process depends on cannot answer now: Postgres unreachable,
 *   shutting down or refusing connections (isDatabaseUnavailable, ./postgres-errors.ts: SQLSTATE 08xxx, 57P01–57P03,
 *   refused or reset sockets, connect timeouts), a peer down, slow or rate-limiting. Waiting heals it.
 * - `incurable`: the same input fails the same way on every try. A bug (programmingErrorIn); the
 *   database refusing the data (isDataRefused: SQLSTATE class 22, data exception, or 23, constraint violation:
 *   the service writes inbound data with ON CONFLICT, so a 23xxx comes from the data, not a race);
 *   an AppError that says it is not retriable (validation, a peer's 4xx).
 * Anything else (a serialization failure, a deadlock, a statement timeout, an error this list does
 * not name) is taken as unavailability: it may heal, and retrying it costs a delay, where giving up
 * on a message or a job that would have gone through loses work.
 */
export type FailureKind = 'unavailable' | 'incurable';

export function classifyFailure(err: unknown): FailureKind {
  if (isDatabaseUnavailable(err)) return 'unavailable';
  if (err instanceof AppError) return err.retriable ? 'unavailable' : 'incurable';
  if (isProgrammingError(err)) return 'incurable';
  if (isDataRefused(err)) return 'incurable';
  return 'unavailable';
}

/** Why an incurable failure is one, for a dead letter's or a failed job's reason. */
export function incurableReason(err: unknown): string {
  const bug = programmingErrorIn(err);
  if (bug) return `a bug: ${bug.name}: ${bug.message.slice(0, 500)}`;
  const refused = databaseErrorIn(err);
  if (refused) {
    return `refused by Postgres (SQLSTATE ${refused.code}): ${refused.message.slice(0, 500)}`;
  }
  return err instanceof Error ? err.message.slice(0, 500) : String(err).slice(0, 500);
}

/**
 * Runs `step` until it succeeds. Delays: min(maxMs, minMs × 2^(try − 1) × a random 1–2), the same
 * as backoffDelayMs. A success that lands as the signal aborts is kept, not thrown away.
 */
export async function retry<T>(
  step: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { backoff, permanent, onRetry } = options;
  let done: { value: T } | undefined;
  try {
    return await pRetry(
      async (attempt) => {
        try {
          const value = await step(attempt);
          done = { value };
          return value;
        } catch (err) {
          // p-retry's AbortError ends the retrying at once and rejects with the original error.
          if (err instanceof Error && (isProgrammingError(err) || permanent?.(err) === true))
            throw new AbortError(err);
          throw err;
        }
      },
      {
        retries: options.retries ?? Number.POSITIVE_INFINITY,
        minTimeout: backoff.minMs,
        maxTimeout: backoff.maxMs,
        factor: 2,
        randomize: true,
        signal: options.signal,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0) await onRetry?.(error, attemptNumber);
        },
      },
    );
  } catch (err) {
    // p-retry checks the signal after a step that succeeded too.
    if (done) return done.value;
    throw err;
  }
}

/**
 * The delay before try `attempt + 1` under `backoff`, by retry()'s rule: for libraries that run
 * their own reconnect loop and only ask for the next delay (ioredis's retryStrategy).
 */
export function backoffDelayMs(
  { minMs, maxMs }: Backoff,
  attempt: number,
  random: () => number = Math.random,
): number {
  // 2^40 × any first delay is past any cap, and keeps the power finite for absurd counts.
  const doublings = Math.min(Math.max(attempt - 1, 0), 40);
  return Math.min(maxMs, Math.round(minMs * 2 ** doublings * (1 + random())));
}
