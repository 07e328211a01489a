/**
 * Typed errors of the domain and its peers. One middleware (api/errors.ts) maps them to HTTP;
 * the job processors decide retry-or-fail from `retriable`.
 */
export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** Whether trying the same thing again later may succeed. */
  readonly retriable: boolean = false;
  constructor(
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface FieldProblem {
  field: string;
  message: string;
}

export class ValidationError extends AppError {
  readonly status = 400;
  readonly code = 'validation_error';
  constructor(readonly problems: FieldProblem[]) {
    super(problems.map((p) => p.message).join('; '), problems[0]?.field);
  }
}

export class NotFoundError extends AppError {
  readonly status = 404;
  readonly code = 'not_found';
}

export class ConflictError extends AppError {
  readonly status = 409;
  readonly code = 'conflict';
}

/** The customer asked to cancel an order that can no longer be cancelled (shipped, cancelled). */
export class NotCancellableError extends AppError {
  readonly status = 409;
  readonly code = 'not_cancellable';
}

export class UnauthorizedError extends AppError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

/** The caller has sent too many failed attempts (admin credentials); it may try again later. */
export class TooManyRequestsError extends AppError {
  readonly status = 429;
  readonly code = 'too_many_requests';
}

export class ItemNotFoundError extends AppError {
  readonly status = 404;
  readonly code = 'item_not_found';
  constructor(itemId: string) {
    super(`item ${itemId} does not exist`, 'item_id');
  }
}

export class OutOfStockError extends AppError {
  readonly status = 409;
  readonly code = 'out_of_stock';
  constructor(itemId: string, requested: number, available: number) {
    super(`item ${itemId}: ${requested} requested, ${available} available`, 'quantity');
  }
}

/** A peer could not answer usefully now (down, slow, 5xx, 429): the caller may try later. */
export class PeerUnavailableError extends AppError {
  readonly status = 503;
  readonly code = 'peer_unavailable';
  override readonly retriable = true;
  /** The peer gave no answer within the bound (as opposed to refusing or failing fast). */
  readonly timedOut: boolean;
  constructor(
    readonly peer: string,
    message: string,
    /** Seconds the peer asked us to wait, when it said (Retry-After). */
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown; timedOut?: boolean },
  ) {
    super(`${peer}: ${message}`, undefined, options);
    this.timedOut = options?.timedOut ?? false;
  }
}

/** Postgres cannot be reached or is shutting down: the request may succeed later. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown } | null;
  if (!e || depth > 5) return false;
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

/** A peer refused the request in a way that sending it again cannot fix (4xx other than 429). */
export class PeerRejectedError extends AppError {
  readonly status = 502;
  readonly code = 'peer_rejected';
  constructor(
    readonly peer: string,
    readonly peerStatus: number,
    message: string,
  ) {
    super(`${peer} answered ${peerStatus}: ${message}`);
  }
}

/**
 * A peer's answer this service cannot use (lib/peers/answer.ts): not the shape its contract
 * promises (an empty or truncated body, wrong types, text Postgres cannot keep), or about another
 * thing than the one asked for (another item, another order's payment). The API answers it 502;
 * a job retries it, as it retries an unavailable peer: every request it repeats is idempotent, and
 * the next answer may be usable (a cache or proxy that mixed answers up, a deploy half done).
 */
export class PeerContractError extends AppError {
  readonly status = 502;
  readonly code = 'peer_contract_violation';
  override readonly retriable = true;
  constructor(
    readonly peer: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${peer}: ${message}`, undefined, options);
  }
}
