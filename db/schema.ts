// The whole database in one file, as drizzle-kit reads it to generate migrations; past 200 lines
// because each table keeps its indexes and constraints beside its columns.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import {
  ORDER_STATUSES,
  REFUND_STATUSES,
  type OrderStatus,
  type RefundStatus,
} from '../lib/domain/order-state.js';

/**
 * The statuses as a SQL list, inlined rather than bound: a check constraint's text is DDL, and
 * drizzle-kit compares it with the migration snapshot, where it is `('new', 'paid', ...)`.
 * The values are the domain's own constants, never input, so inlining them is safe. Adding a
 * status changes this text, so `npm run db:generate` writes the migration that replaces the check.
 */
const sqlList = (values: readonly string[]) => sql.raw(values.map((s) => `'${s}'`).join(', '));
const orderStatusList = sqlList(ORDER_STATUSES);
const refundStatusList = sqlList(REFUND_STATUSES);

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
};

/** Ids are UUIDv7 made by the service, so id order is creation order (the list API relies on it). */
export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    itemId: uuid('item_id').notNull(),
    quantity: integer('quantity').notNull(),
    unitPrice: numeric('unit_price', { precision: 20, scale: 2 }).notNull(),
    amount: numeric('amount', { precision: 20, scale: 2 }).notNull(),
    status: text('status').$type<OrderStatus>().notNull(),
    /** The client's key: one order per key. */
    idempotencyKey: uuid('idempotency_key').notNull(),
    /** Hash of the creating request, to tell a replay from a different body under the same key. */
    requestHash: text('request_hash').notNull(),
    /** The key this service gives Payments for this order's charge; the callback must echo it. */
    paymentIdempotencyKey: uuid('payment_idempotency_key').notNull(),
    shipmentId: text('shipment_id'),
    /**
     * The W3C trace context of the request that created the order (null when tracing was off):
     * inbound events that arrive without it (a payment callback, a shipping response) join it.
     */
    traceparent: text('traceparent'),
    /** Payments' id of the payment that succeeded: refunds name it, refund callbacks carry it. */
    paymentId: text('payment_id'),
    /** When the customer asked to cancel (in `paid`, Shipping's answer is awaited). */
    cancelRequestedAt: timestamp('cancel_requested_at', { withTimezone: true }),
    /** Null until a refund is owed (see lib/domain/order-state.ts). */
    refundStatus: text('refund_status').$type<RefundStatus>(),
    /** The key this service gave Payments for the refund; the refund callback must echo it. */
    refundIdempotencyKey: uuid('refund_idempotency_key'),
    /**
     * When Payments accepted the payment request (null before): the payment checks and the
     * expiry count from it (lib/domain/payment-checks.ts).
     */
    paymentAcceptedAt: timestamp('payment_accepted_at', { withTimezone: true }),
    /**
     * Payments' id for the payment requested, from its answer to the request (null before, or
     * when that answer carried none): the payment check asks Payments about it.
     */
    requestedPaymentId: text('requested_payment_id'),
    ...timestamps,
    /** When the status last changed: setOrderState (db/order-transitions.ts) is its one writer. */
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('orders_idempotency_key_uq').on(t.idempotencyKey),
    index('orders_user_id_id_idx').on(t.userId, t.id.desc()),
    check('orders_status_ck', sql`${t.status} in (${orderStatusList})`),
    check('orders_refund_status_ck', sql`${t.refundStatus} in (${refundStatusList})`),
    // The order_refunds gauge: refunds not confirmed yet, or failed. Partial, so it stays tiny.
    index('orders_refund_open_idx')
      .on(t.refundStatus)
      .where(sql`${t.refundStatus} in ('requested', 'failed')`),
    check('orders_quantity_ck', sql`${t.quantity} > 0`),
    // The orders_waiting_too_long gauge and its admin list: paid orders by how long they have
    // waited for Shipping's answer. Partial: shipped and cancelled orders leave it.
    index('orders_paid_updated_idx')
      .on(t.updatedAt)
      .where(sql`${t.status} = 'paid'`),
  ],
);

export const orderStatusHistory = pgTable(
  'order_status_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    status: text('status').notNull(),
    /** The order's refund status after this change; null while none is owed. */
    refundStatus: text('refund_status').$type<RefundStatus>(),
    reason: text('reason'),
    ...timestamps,
  },
  (t) => [index('order_status_history_order_id_idx').on(t.orderId, t.id)],
);

/**
 * The transactional outbox: every side effect leaves through a row here, written in the same
 * transaction as the change that causes it. dispatched_at: handed to BullMQ; completed_at: the
 * effect is done; failed_at: given up (attempts exhausted, or not enqueueable).
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /**
     * The row's job identity, unique to it forever: its BullMQ job id is derived from this, not
     * from the serial id, which a restored or re-created database hands out again while Redis
     * still holds the jobs of the earlier rows.
     */
    jobId: uuid('job_id').notNull().defaultRandom(),
    queue: text('queue').notNull(),
    eventType: text('event_type').notNull(),
    orderId: uuid('order_id'),
    /** Stable per row: peers deduplicate retries of this effect by it. */
    idempotencyKey: uuid('idempotency_key').notNull(),
    payload: jsonb('payload').notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /**
     * Each failed attempt's time and error, the latest OUTBOX_ATTEMPT_ERRORS_KEPT (db/outbox/rows.ts)
     * only: last_error keeps just the latest, and BullMQ's job (and its stack traces) is removed
     * after a week, while ops reading an order's journey want to see every try.
     */
    attemptErrors: jsonb('attempt_errors')
      .$type<{ at: string; attempt: number; error: string }[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    /** The W3C trace context of the transaction that wrote the row: its job continues that trace. */
    traceparent: text('traceparent'),
    /**
     * When the row's job may run (null: at once). The relay claims the row only once it has
     * come (payment checks are written to run minutes or hours later, and most are completed
     * before, by their order's payment, without ever becoming a job).
     */
    runAfter: timestamp('run_after', { withTimezone: true }),
    ...timestamps,
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    failedAt: timestamp('failed_at', { withTimezone: true }),
  },
  (t) => [
    // The relay's claim (db/outbox/dispatch.ts), in two parts so that rows written to run later
    // (payment checks, thousands waiting at a time) never lie in the way of the rows due at once:
    // rows to run at once in id order, and rows to run later by when they fall due. Both skip the
    // rows given up, and the checks completed before they fell due (their order left `new`).
    // Partial, so they stay tiny.
    index('outbox_undispatched_now_idx')
      .on(t.id)
      .where(
        sql`${t.dispatchedAt} is null and ${t.completedAt} is null and ${t.failedAt} is null and ${t.runAfter} is null`,
      ),
    index('outbox_undispatched_later_idx')
      .on(t.runAfter)
      .where(
        sql`${t.dispatchedAt} is null and ${t.completedAt} is null and ${t.failedAt} is null and ${t.runAfter} is not null`,
      ),
    // What the relay claimed by before 0008 (one index for both kinds): kept while a release runs
    // beside the old relays, whose claim has no other index; dropped a release later.
    index('outbox_undispatched_idx')
      .on(t.id)
      .where(sql`${t.dispatchedAt} is null and ${t.failedAt} is null`),
    // The reconciler's query: dispatched, still open.
    index('outbox_open_dispatched_idx')
      .on(t.dispatchedAt)
      .where(
        sql`${t.dispatchedAt} is not null and ${t.completedAt} is null and ${t.failedAt} is null`,
      ),
    // The outbox_oldest_open_seconds gauge: per queue, the oldest row neither completed nor
    // failed. Partial, so it holds only the rows in flight (or waiting out an outage).
    index('outbox_open_queue_created_idx')
      .on(t.queue, t.createdAt)
      .where(sql`${t.completedAt} is null and ${t.failedAt} is null`),
    // An order's journey (the admin view) lists its rows.
    index('outbox_order_id_idx').on(t.orderId),
    // Retention's query.
    index('outbox_completed_at_idx')
      .on(t.completedAt)
      .where(sql`${t.completedAt} is not null`),
  ],
);

/** Inbound events (payment callbacks, shipping responses), unique per source and message key. */
export const inbox = pgTable(
  'inbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    source: text('source').notNull(),
    messageKey: text('message_key').notNull(),
    orderId: uuid('order_id').notNull(),
    eventType: text('event_type').notNull(),
    payload: jsonb('payload').notNull(),
    ...timestamps,
    processedAt: timestamp('processed_at', { withTimezone: true }),
    /** What applying it did: 'applied', or why the state machine refused it. */
    result: text('result'),
  },
  (t) => [
    uniqueIndex('inbox_source_message_key_uq').on(t.source, t.messageKey),
    // An order's journey (the admin view) lists its rows.
    index('inbox_order_id_idx').on(t.orderId),
    index('inbox_processed_at_idx')
      .on(t.processedAt)
      .where(sql`${t.processedAt} is not null`),
    index('inbox_unprocessed_idx')
      .on(t.id)
      .where(sql`${t.processedAt} is null`),
  ],
);

/** Kafka messages that could not be taken in, kept with the reason so ops can fix and replay. */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    topic: text('topic').notNull(),
    partition: integer('partition').notNull(),
    offset: bigint('offset', { mode: 'bigint' }).notNull(),
    key: text('key'),
    value: text('value'),
    reason: text('reason').notNull(),
    ...timestamps,
    replayedAt: timestamp('replayed_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('dead_letters_position_uq').on(t.topic, t.partition, t.offset)],
);

/**
 * Client systems' subscriptions to order events (docs/webhooks.md). `secret` signs each delivery
 * (Standard Webhooks); after a rotation the previous one signs too until
 * `previous_secret_expires_at`, so a receiver can switch without dropping a delivery. Ids are
 * UUIDv7 made by the service.
 */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey(),
    url: text('url').notNull(),
    /** Event types (`order.paid`, …), or `*` for all. */
    events: text('events').array().notNull(),
    description: text('description').notNull().default(''),
    active: boolean('active').notNull().default(true),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: timestamp('previous_secret_expires_at', { withTimezone: true }),
    /** Why and when it stopped (a 410, or failing for the whole retry window); null while active. */
    disabledReason: text('disabled_reason'),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    ...timestamps,
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Every order transition reads the active subscriptions in its one statement.
    index('webhook_subscriptions_active_idx')
      .on(t.id)
      .where(sql`${t.active}`),
  ],
);

/**
 * Each attempt to deliver an order event to a subscription: what the receiver answered, how long
 * it took and its answer's first bytes. `message_id` is the delivery's `webhook-id`, the same on
 * every attempt and redelivery of one (subscription, order, event).
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    /** The outbox row carrying the event (null once retention deleted it). */
    outboxId: bigint('outbox_id', { mode: 'number' }),
    messageId: text('message_id').notNull(),
    orderId: uuid('order_id'),
    eventType: text('event_type').notNull(),
    attempt: integer('attempt').notNull(),
    /** delivered (2xx), failed (retried), gone (410: subscription disabled), skipped (inactive). */
    outcome: text('outcome').notNull(),
    statusCode: integer('status_code'),
    error: text('error'),
    latencyMs: integer('latency_ms'),
    /** The answer's first bytes, as text. */
    responseExcerpt: text('response_excerpt'),
    ...timestamps,
  },
  (t) => [
    index('webhook_deliveries_subscription_id_idx').on(t.subscriptionId, t.id),
    // An order's journey (the admin view) lists its deliveries.
    index('webhook_deliveries_order_id_idx').on(t.orderId),
    index('webhook_deliveries_created_at_idx').on(t.createdAt),
  ],
);

export type OrderRow = typeof orders.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
export type InboxRow = typeof inbox.$inferSelect;
export type DeadLetterRow = typeof deadLetters.$inferSelect;
export type WebhookSubscriptionRow = typeof webhookSubscriptions.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
