/**
 * Typed errors of the domain and its peers. Each names its kind by `code`; one middleware
 * (api/errors.ts) maps the codes to HTTP, and what retrying can cure is judged from `retriable`
 * (lib/platform/retry.ts).
 */
export type AppErrorCode =
  | 'validation_error'
  | 'not_found'
  | 'conflict'
  | 'not_cancellable'
  | 'unauthorized'
  | 'too_many_requests'
  | 'item_not_found'
  | 'out_of_stock'
  | 'peer_unavailable'
  | 'peer_rejected'
  | 'peer_contract_violation';

export abstract class AppError extends Error {
  abstract readonly code: AppErrorCode;
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
  readonly code = 'validation_error';
  constructor(readonly problems: FieldProblem[]) {
    super(problems.map((p) => p.message).join('; '), problems[0]?.field);
  }
}

export class NotFoundError extends AppError {
  readonly code = 'not_found';
}

export class ConflictError extends AppError {
  readonly code = 'conflict';
}

/** The customer asked to cancel an order that can no longer be cancelled (shipped, cancelled). */
export class NotCancellableError extends AppError {
  readonly code = 'not_cancellable';
}

export class UnauthorizedError extends AppError {
  readonly code = 'unauthorized';
}

/** The caller has sent too many failed attempts (admin credentials); it may try again later. */
export class TooManyRequestsError extends AppError {
  readonly code = 'too_many_requests';
}

export class ItemNotFoundError extends AppError {
  readonly code = 'item_not_found';
  constructor(itemId: string) {
    super(`item ${itemId} does not exist`, 'item_id');
  }
}

export class OutOfStockError extends AppError {
  readonly code = 'out_of_stock';
  constructor(itemId: string, requested: number, available: number) {
    super(`item ${itemId}: ${requested} requested, ${available} available`, 'quantity');
  }
}

/** A peer could not answer usefully now (down, slow, 5xx, 429): the caller may try later. */
export class PeerUnavailableError extends AppError {
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

/** A peer refused the request in a way that sending it again cannot fix (4xx other than 429). */
export class PeerRejectedError extends AppError {
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
