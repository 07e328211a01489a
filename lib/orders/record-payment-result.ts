import type { Db } from '../../db/client.js';
import { findOrderById } from '../../db/orders.js';
import type { OrderRow } from '../../db/schema.js';
import { recordInboundEvent } from './record-inbound-event.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import { moneyEquals } from '../domain/money.js';
import type { OrderEvent } from '../domain/order-state.js';

/**
 * What Payments says a payment is; api/schemas.ts accepts and documents exactly these. The last
 * two are a refund's outcome (this service's extension of the contract), for the same payment.
 */
export const PAYMENT_STATUSES = [
  'pending',
  'succeeded',
  'failed',
  'refunded',
  'refund_failed',
] as const;
const REFUND_OUTCOMES: readonly PaymentCallback['status'][] = ['refunded', 'refund_failed'];

/** The Payments peer's callback body, as validated by api/schemas.ts `paymentCallbackBody`. */
export interface PaymentCallback {
  /** Payments' id for the payment (for a refund outcome too: the payment refunded). */
  id: string;
  user_id?: string | null;
  order_id: string;
  amount: string;
  status: (typeof PAYMENT_STATUSES)[number];
  /** The payment's key; for a refund outcome, the refund's. */
  idempotency_key: string;
  created_at?: string | null;
}

/** Taken from the state machine's events, so renaming one there breaks EVENT_TYPES below. */
export type PaymentEventType = Extract<
  OrderEvent,
  'payment.succeeded' | 'payment.failed' | 'refund.succeeded' | 'refund.failed'
>;

export type PaymentResultOutcome =
  /** `pending` tells nothing the order does not know yet: nothing is written. */
  | { kind: 'pending' }
  | { kind: 'recorded' | 'duplicate'; eventType: PaymentEventType; inboxId: number };

export const PAYMENTS_SOURCE = 'payments';

const EVENT_TYPES: Record<Exclude<PaymentCallback['status'], 'pending'>, PaymentEventType> = {
  succeeded: 'payment.succeeded',
  failed: 'payment.failed',
  refunded: 'refund.succeeded',
  refund_failed: 'refund.failed',
};

const sameKey = (a: string, b: string | null) => b !== null && a.toLowerCase() === b.toLowerCase();

function assertMatchesRequest(order: OrderRow, callback: PaymentCallback): void {
  if (!moneyEquals(callback.amount, order.amount)) {
    throw new ConflictError(
      `amount ${callback.amount} differs from the order's amount ${order.amount}`,
      'amount',
    );
  }
  if (REFUND_OUTCOMES.includes(callback.status)) return assertMatchesRefund(order, callback);
  // UUIDs compare without regard to case; Postgres hands them back in lower case.
  if (!sameKey(callback.idempotency_key, order.paymentIdempotencyKey)) {
    throw new ConflictError(
      'idempotency_key is not the one this service sent Payments for the order',
      'idempotency_key',
    );
  }
}

/** A refund outcome must be for the refund this service asked for: that payment, that key. */
function assertMatchesRefund(order: OrderRow, callback: PaymentCallback): void {
  if (order.refundStatus === null || order.refundIdempotencyKey === null) {
    throw new ConflictError(`no refund was requested for order ${order.id}`, 'status');
  }
  if (callback.id !== order.paymentId) {
    throw new ConflictError('id is not the payment this service asked to refund', 'id');
  }
  if (!sameKey(callback.idempotency_key, order.refundIdempotencyKey)) {
    throw new ConflictError(
      'idempotency_key is not the one this service sent Payments for the refund',
      'idempotency_key',
    );
  }
}

/**
 * The message key of a callback. Payments resends a callback with the same id and status, so
 * that pair marks a repeat; the order id is part of it so that ids Payments reuses across orders
 * (a development peer restarted with a fresh counter) can never make one order's result look
 * like a repeat of another's.
 */
export function paymentMessageKey(callback: PaymentCallback): string {
  return `${callback.order_id.toLowerCase()}:${callback.id}:${callback.status}`;
}

/**
 * The payment callback (ARCHITECTURE.md), after the signature and the shape have been checked:
 * a result (of a payment or of its refund) that matches what this service asked Payments for is
 * taken into the inbox; the inbox processor applies it.
 * Throws NotFoundError / ConflictError (nothing written) when it does not match.
 */
export async function recordPaymentResult(
  db: Db,
  callback: PaymentCallback,
): Promise<PaymentResultOutcome> {
  if (callback.status === 'pending') return { kind: 'pending' };

  const order = await findOrderById(db, callback.order_id);
  if (!order) throw new NotFoundError(`order ${callback.order_id} does not exist`, 'order_id');
  assertMatchesRequest(order, callback);

  const eventType = EVENT_TYPES[callback.status];
  const { inboxId, duplicate } = await recordInboundEvent(db, {
    source: PAYMENTS_SOURCE,
    messageKey: paymentMessageKey(callback),
    orderId: order.id,
    eventType,
    payload: { ...callback },
  });
  return { kind: duplicate ? 'duplicate' : 'recorded', eventType, inboxId };
}
