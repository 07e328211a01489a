/**
 * What Postgres's errors mean, by their codes (SQLSTATE) and the driver's: the only file that reads
 * them. Whether retrying can cure a failure is judged once, by classifyFailure in ./retry.ts, from
 * these; the API answers 503 to an unavailable database (api/errors.ts).
 */

// Wrappers add context (drizzle wraps every failed query, cause = what the driver threw).
const MAX_CAUSES = 5;

/** Postgres cannot be reached or is shutting down: the request may succeed later. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown } | null;
  if (!e || depth > MAX_CAUSES) return false;
  // drizzle wraps the driver's error in `cause`; a refused dual-stack connect is an AggregateError.
  if (e.cause !== undefined && isDatabaseUnavailable(e.cause, depth + 1)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x, depth + 1)))
    return true;
  const code = typeof e?.code === 'string' ? e.code : '';
  // SQLSTATE class 08 (connection exception), 57P01-03 (admin shutdown, crash shutdown, cannot
  // connect now); Node's socket errors; pg's pool timeout, which carries no code.
  return (
    code.startsWith('08') ||
    /^57P0[123]$/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(code) ||
    (typeof e?.message === 'string' &&
      /timeout exceeded when trying to connect|Connection terminated/i.test(e.message))
  );
}

/** The Postgres error (a `code` of five characters) `err` is or wraps, if any. */
export function databaseErrorIn(err: unknown): (Error & { code: string }) | undefined {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth <= MAX_CAUSES; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
      return e as Error & { code: string };
    e = e.cause;
  }
  return undefined;
}

/**
 * A lock was not granted within `lock_timeout` (SQLSTATE 55P03, lock_not_available): the statement
 * was rolled back before it changed anything, and the same statement may get its lock later.
 */
export function isLockNotAvailable(err: unknown): boolean {
  return databaseErrorIn(err)?.code === '55P03';
}

/** SQLSTATE classes whose errors come from the data a statement was given. */
const DATA_SQLSTATE_CLASSES = ['22', '23'];

/**
 * Postgres refused the data a statement was given: SQLSTATE class 22 (data exception) or 23
 * (constraint violation). The same data fails the same way on every try.
 */
export function isDataRefused(err: unknown): boolean {
  const sqlState = databaseErrorIn(err)?.code;
  return sqlState !== undefined && DATA_SQLSTATE_CLASSES.includes(sqlState.slice(0, 2));
}
