import { randomUUID } from 'node:crypto';

/**
 * What leaves the service, as outbox rows. Every writer of outbox rows (order creation, the inbox
 * processor) builds them here, so each queue's payload has one shape and one place to change.
 */
export const QUEUE_NAMES = ['payments', 'notifications', 'shipping', 'inbox'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** Postgres NOTIFY channel the relay LISTENs on; the payload is empty (the table is the truth). */
export const OUTBOX_CHANNEL = 'outbox_new';

export interface NewOutboxRow {
  queue: QueueName;
  eventType: string;
  orderId: string | null;
  /** Stable for the row's life: the peer deduplicates retries of this effect by it. */
  idempotencyKey: string;
  payload: Record<string, unknown>;
}

/** What the payments processor sends; callback_url is added at send time from configuration. */
export interface PaymentRequestPayload {
  order_id: string;
  amount: string;
  idempotency_key: string;
}

export interface NotificationPayload {
  event: string;
  order_id: string;
  user_id: string;
  message: string;
}

export interface ShippingRequestPayload {
  event_type: 'order.paid';
  order_id: string;
  item_id: string;
  quantity: number;
  idempotency_key: string;
}

export interface InboxApplyPayload {
  inbox_id: number;
}

interface OrderFacts {
  id: string;
  userId: string;
  itemId: string;
  quantity: number;
  amount: string;
  paymentIdempotencyKey: string;
}

export function paymentRequested(order: OrderFacts): NewOutboxRow {
  const payload: PaymentRequestPayload = {
    order_id: order.id,
    amount: order.amount,
    idempotency_key: order.paymentIdempotencyKey,
  };
  return {
    queue: 'payments',
    eventType: 'payment.requested',
    orderId: order.id,
    idempotencyKey: order.paymentIdempotencyKey,
    payload: { ...payload },
  };
}

export function notification(
  order: Pick<OrderFacts, 'id' | 'userId'>,
  event: string,
  message: string,
): NewOutboxRow {
  const payload: NotificationPayload = {
    event,
    order_id: order.id,
    user_id: order.userId,
    message,
  };
  return {
    queue: 'notifications',
    eventType: event,
    orderId: order.id,
    idempotencyKey: randomUUID(),
    payload: { ...payload },
  };
}

export function shippingRequested(
  order: Pick<OrderFacts, 'id' | 'itemId' | 'quantity'>,
): NewOutboxRow {
  const idempotencyKey = randomUUID();
  const payload: ShippingRequestPayload = {
    event_type: 'order.paid',
    order_id: order.id,
    item_id: order.itemId,
    quantity: order.quantity,
    idempotency_key: idempotencyKey,
  };
  return {
    queue: 'shipping',
    eventType: 'shipping.requested',
    orderId: order.id,
    idempotencyKey,
    payload: { ...payload },
  };
}

export function inboxApply(inboxId: number, orderId: string, eventType: string): NewOutboxRow {
  const payload: InboxApplyPayload = { inbox_id: inboxId };
  return {
    queue: 'inbox',
    eventType,
    orderId,
    idempotencyKey: randomUUID(),
    payload: { ...payload },
  };
}
