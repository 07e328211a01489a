import { randomUUID } from 'node:crypto';
import { effectKey } from '../../lib/domain/effect-keys.js';
import type { OrderEventType } from '../../lib/domain/order-events.js';

/**
 * What leaves the service, as outbox rows. Every writer of outbox rows (order creation, the inbox
 * processor, customer cancellation) builds them here, so each queue's payload has one shape and
 * one place to change. (Past the usual 200 lines: one declaration and builder per queue.)
 */
export const QUEUE_NAMES = [
  'payments',
  'notifications',
  'shipping',
  'inbox',
  'refunds',
  'cancellations',
  'payment-checks',
  'webhooks',
] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** Postgres NOTIFY channel the relay LISTENs on; the payload is empty (the table is the truth). */
export const OUTBOX_CHANNEL = 'outbox_new';

export interface NewOutboxRow {
  queue: QueueName;
  eventType: string;
  orderId: string | null;
  /**
   * The peer deduplicates this effect by it: derived from the order and the step
   * (lib/domain/effect-keys.ts), so the row written again after a restore carries the same key.
   */
  idempotencyKey: string;
  payload: Record<string, unknown>;
  /** The row's job runs no sooner than this long after the row is written (a BullMQ delay). */
  delayMs?: number;
  /**
   * Present on a webhook template (orderWebhook): not a row itself, but expanded by the INSERT
   * (db/outbox/rows.ts) into one `webhooks` row per active subscription to `eventType`. The body
   * text to send, with WEBHOOK_NOW where the statement's now() goes.
   */
  webhookBody?: string;
}

export function isQueueName(value: unknown): value is QueueName {
  return (QUEUE_NAMES as readonly unknown[]).includes(value);
}

/** The event type of a shipping request; the shipping consumer skips it when it reads it back. */
export const SHIPPING_REQUEST_EVENT = 'order.paid';
/** The event type of a cancellation request to Shipping (same topic, skipped the same way). */
export const SHIPPING_CANCEL_REQUEST_EVENT = 'order.cancel_requested';
/** Every type this service produces on the shipping requests topic. */
export const SHIPPING_REQUEST_EVENTS = [SHIPPING_REQUEST_EVENT, SHIPPING_CANCEL_REQUEST_EVENT];

/** 'string' is a non-empty string; 'integer' a safe integer. */
type FieldKind = 'string' | 'integer';
interface FieldTypes {
  string: string;
  integer: number;
}

/**
 * Each queue's payload, field by field: the one definition. The payload types, the builders below
 * and parsePayload (which the relay and every processor run) are all derived from it, so adding a
 * field is one edit here and the compiler points at each builder that must now fill it.
 */
const PAYLOAD_FIELDS = {
  /** What the payments processor sends; callback_url is added at send time from configuration. */
  payments: { order_id: 'string', amount: 'string', idempotency_key: 'string' },
  notifications: { event: 'string', order_id: 'string', user_id: 'string', message: 'string' },
  /** The builder writes SHIPPING_REQUEST_EVENT as event_type; the check, and so the type, say string. */
  shipping: {
    event_type: 'string',
    order_id: 'string',
    item_id: 'string',
    quantity: 'integer',
    idempotency_key: 'string',
  },
  inbox: { inbox_id: 'integer' },
  /** What the refunds processor sends Payments; callback_url is added at send time. */
  refunds: {
    payment_id: 'string',
    order_id: 'string',
    amount: 'string',
    reason: 'string',
    idempotency_key: 'string',
  },
  /** The builder writes SHIPPING_CANCEL_REQUEST_EVENT as event_type. */
  cancellations: { event_type: 'string', order_id: 'string', idempotency_key: 'string' },
  /** Check number `attempt` (from 1) of the order's payment with Payments. */
  'payment-checks': { order_id: 'string', attempt: 'integer' },
  /**
   * One order event for one subscription: message_id is the `webhook-id`, body the exact text sent
   * (and signed) on every attempt. Written by the INSERT's fan-out (db/outbox/rows.ts).
   */
  webhooks: {
    subscription_id: 'string',
    message_id: 'string',
    order_id: 'string',
    event: 'string',
    body: 'string',
  },
} as const satisfies Record<QueueName, Record<string, FieldKind>>;

type Fields = typeof PAYLOAD_FIELDS;

/** Each queue's payload, as the builders below write it and parsePayload returns it. */
export type QueuePayloads = {
  [Q in QueueName]: { -readonly [F in keyof Fields[Q]]: FieldTypes[Fields[Q][F] & FieldKind] };
};
export type PaymentRequestPayload = QueuePayloads['payments'];
export type NotificationPayload = QueuePayloads['notifications'];
export type ShippingRequestPayload = QueuePayloads['shipping'];
export type InboxApplyPayload = QueuePayloads['inbox'];
export type RefundRequestPayload = QueuePayloads['refunds'];
export type CancellationRequestPayload = QueuePayloads['cancellations'];
export type PaymentCheckPayload = QueuePayloads['payment-checks'];
export type WebhookPayload = QueuePayloads['webhooks'];

/** A payload that breaks its queue's contract: retrying cannot fix it. */
export class InvalidJobPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

function problem(value: unknown, kind: FieldKind): string | undefined {
  if (kind === 'integer') return Number.isSafeInteger(value) ? undefined : 'must be an integer';
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  return undefined;
}

/** Checks a payload against its queue's fields; throws InvalidJobPayloadError naming each bad one. */
export function parsePayload<Q extends QueueName>(queue: Q, payload: unknown): QueuePayloads[Q] {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new InvalidJobPayloadError(`${queue} payload must be an object`);
  }
  const fields: Record<string, FieldKind> = PAYLOAD_FIELDS[queue];
  const problems = Object.entries(fields).flatMap(([field, kind]) => {
    const p = problem((payload as Record<string, unknown>)[field], kind);
    return p ? [`${field} ${p}`] : [];
  });
  if (problems.length) {
    throw new InvalidJobPayloadError(`${queue} payload: ${problems.join(', ')}`);
  }
  // Every field the type names was checked just above.
  return payload as QueuePayloads[Q];
}

function outboxRow<Q extends QueueName>(
  queue: Q,
  row: Omit<NewOutboxRow, 'queue' | 'payload'>,
  payload: QueuePayloads[Q],
): NewOutboxRow {
  return { queue, ...row, payload };
}

export interface OrderFacts {
  id: string;
  userId: string;
  itemId: string;
  quantity: number;
  amount: string;
  paymentIdempotencyKey: string;
}

export function paymentRequested(order: OrderFacts): NewOutboxRow {
  return outboxRow(
    'payments',
    {
      eventType: 'payment.requested',
      orderId: order.id,
      idempotencyKey: order.paymentIdempotencyKey,
    },
    {
      order_id: order.id,
      amount: order.amount,
      idempotency_key: order.paymentIdempotencyKey,
    },
  );
}

export function notification(
  order: Pick<OrderFacts, 'id' | 'userId'>,
  event: string,
  message: string,
): NewOutboxRow {
  return outboxRow(
    'notifications',
    { eventType: event, orderId: order.id, idempotencyKey: effectKey(order.id, `notify:${event}`) },
    { event, order_id: order.id, user_id: order.userId, message },
  );
}

export function shippingRequested(
  order: Pick<OrderFacts, 'id' | 'itemId' | 'quantity'>,
): NewOutboxRow {
  const idempotencyKey = effectKey(order.id, 'shipping');
  return outboxRow(
    'shipping',
    { eventType: 'shipping.requested', orderId: order.id, idempotencyKey },
    {
      event_type: SHIPPING_REQUEST_EVENT,
      order_id: order.id,
      item_id: order.itemId,
      quantity: order.quantity,
      idempotency_key: idempotencyKey,
    },
  );
}

/**
 * Asks the inbox processor to apply an inbound event. Its key goes to no peer (the job finds its
 * row by the outbox id and its job id), so it stays random: one derived from the inbox id would
 * repeat after a restore, when the serial inbox ids are handed out again for other events.
 */
export function inboxApply(inboxId: number, orderId: string, eventType: string): NewOutboxRow {
  return outboxRow(
    'inbox',
    { eventType, orderId, idempotencyKey: randomUUID() },
    { inbox_id: inboxId },
  );
}

/**
 * The refund of an order's payment, in full. `idempotencyKey` is also stored on the order (the
 * refund callback must echo it), so the caller passes it: `effectKey(order.id, 'refund')`.
 */
export function refundRequested(
  order: Pick<OrderFacts, 'id' | 'amount'>,
  refund: { paymentId: string; reason: string; idempotencyKey: string },
): NewOutboxRow {
  return outboxRow(
    'refunds',
    { eventType: 'refund.requested', orderId: order.id, idempotencyKey: refund.idempotencyKey },
    {
      payment_id: refund.paymentId,
      order_id: order.id,
      amount: order.amount,
      reason: refund.reason,
      idempotency_key: refund.idempotencyKey,
    },
  );
}

/** Asks Shipping to cancel a paid order (the customer cancelled it). */
export function cancellationRequested(order: Pick<OrderFacts, 'id'>): NewOutboxRow {
  const idempotencyKey = effectKey(order.id, 'cancellation');
  return outboxRow(
    'cancellations',
    { eventType: 'shipping.cancel_requested', orderId: order.id, idempotencyKey },
    {
      event_type: SHIPPING_CANCEL_REQUEST_EVENT,
      order_id: order.id,
      idempotency_key: idempotencyKey,
    },
  );
}

/** The queue of the payment checks: an order leaving `new` completes its open rows. */
export const PAYMENT_CHECKS_QUEUE = 'payment-checks' satisfies QueueName;

/**
 * Check number `attempt` of an order's payment, run `delayMs` after the row is written. Its key is
 * derived from the order and the attempt, so a check written again (a replay, a restore) is
 * recognisably the same one.
 */
export function paymentCheck(orderId: string, attempt: number, delayMs: number): NewOutboxRow {
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new RangeError(`a payment check's delay must be whole ms ≥ 0, got ${delayMs}`);
  }
  const idempotencyKey = effectKey(orderId, `payment-check:${attempt}`);
  return {
    ...outboxRow(
      'payment-checks',
      { eventType: 'payment.check', orderId, idempotencyKey },
      { order_id: orderId, attempt },
    ),
    delayMs,
  };
}

/** The queue of order webhooks: one row per (subscription, order, event), fanned out in SQL. */
export const WEBHOOKS_QUEUE = 'webhooks' satisfies QueueName;

/**
 * Stands, in a webhook's body template, for the time of the statement that writes it: the INSERT
 * replaces its JSON text (a string no order field can hold) with now(), so `timestamp`, and the
 * fields the statement itself sets to now(), equal what GET shows.
 */
export const WEBHOOK_NOW = '\u0000now';

/**
 * An order event for every active subscription to it: a template the INSERT expands, so the
 * writer's one statement reads the subscriptions and writes the rows (no round trip; no rows
 * when nobody subscribes). `data` is the order as GET shows it after the change, with
 * WEBHOOK_NOW in each field the statement sets to now(). The body's bytes are fixed here, in
 * the row, so every attempt signs the same text.
 */
export function orderWebhook(
  event: OrderEventType,
  orderId: string,
  data: Record<string, unknown>,
): NewOutboxRow {
  return {
    queue: WEBHOOKS_QUEUE,
    eventType: event,
    orderId,
    // Never inserted as is: each expanded row's key is derived from (order, event, subscription).
    idempotencyKey: '00000000-0000-0000-0000-000000000000',
    payload: {},
    webhookBody: JSON.stringify({ type: event, timestamp: WEBHOOK_NOW, data }),
  };
}
