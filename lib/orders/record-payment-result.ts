import type { Db } from '../../db/client.js';
import { findOrderById } from '../../db/orders.js';
import type { OrderRow } from '../../db/schema.js';
import { recordInboundEvent } from './record-inbound-event.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import { moneyEquals } from '../domain/money.js';
import type { OrderEvent } from '../domain/order-state.js';

/** What Payments says a payment is; api/schemas.ts accepts and documents exactly these. */
export const PAYMENT_STATUSES = ['pending', 'succeeded', 'failed'] as const;

/** The Payments peer's callback body, as validated by api/schemas.ts `paymentCallbackBody`. */
export interface PaymentCallback {
  /** Payments' id for the payment. */
  id: string;
  user_id?: string | null;
  order_id: string;
  amount: string;
  status: (typeof PAYMENT_STATUSES)[number];
  idempotency_key: string;
  created_at?: string | null;
}

/** Taken from the state machine's events, so renaming one there breaks EVENT_TYPES below. */
export type PaymentEventType = Extract<OrderEvent, 'payment.succeeded' | 'payment.failed'>;

export type PaymentResultOutcome =
  /** `pending` tells nothing the order does not know yet: nothing is written. */
  | { kind: 'pending' }
  | { kind: 'recorded' | 'duplicate'; eventType: PaymentEventType; inboxId: number };

export const PAYMENTS_SOURCE = 'payments';

const EVENT_TYPES: Record<Exclude<PaymentCallback['status'], 'pending'>, PaymentEventType> = {
  succeeded: 'payment.succeeded',
  failed: 'payment.failed',
};

function assertMatchesRequest(order: OrderRow, callback: PaymentCallback): void {
  if (!moneyEquals(callback.amount, order.amount)) {
    throw new ConflictError(
      `amount ${callback.amount} differs from the order's amount ${order.amount}`,
      'amount',
    );
  }
  // UUIDs compare without regard to case; Postgres hands them back in lower case.
  if (callback.idempotency_key.toLowerCase() !== order.paymentIdempotencyKey.toLowerCase()) {
    throw new ConflictError(
      'idempotency_key is not the one this service sent Payments for the order',
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
 * a result that matches what this service asked Payments for is taken into the inbox; the inbox
 * processor applies it.
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
