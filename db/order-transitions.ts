import type { OrderStatus, RefundStatus } from '../lib/domain/order-state.js';
import type { Executor } from './client.js';
import { orders, type OrderRow } from './schema.js';
import { run, statement, tableRows } from './statement.js';
import { inboxProcessedText } from './inbox.js';
import {
  outboxCompletedText,
  outboxInsertText,
  outboxParams,
  type OutboxJobRef,
} from './outbox/rows.js';
import { OUTBOX_CHANNEL, PAYMENT_CHECKS_QUEUE, type NewOutboxRow } from './outbox/events.js';

/**
 * The only writes of an order's state. Callers (the inbox use case, customer cancellation) decide
 * with lib/domain/order-state; these just lock, set and record.
 */

const orderRows = tableRows(orders);

const orderLocked = statement<Record<string, unknown>>(
  'order_lock',
  `select ${orderRows.columns} from orders where id = $1 for update`,
);

/** The order, locked FOR UPDATE: transitions of one order are applied one at a time. */
export async function lockOrder(tx: Executor, id: string): Promise<OrderRow | undefined> {
  const [row] = await run(tx, orderLocked, [id]);
  return row && orderRows.map(row);
}

export interface OrderChange {
  orderId: string;
  status: OrderStatus;
  refundStatus: RefundStatus | null;
  reason: string;
  /** Set only when given; an earlier shipment id is kept otherwise. */
  shipmentId?: string;
  /** Set only when given and none is recorded yet: the first successful payment is the one. */
  paymentId?: string;
  /** Set only when given and none is recorded yet: one refund per order. */
  refundIdempotencyKey?: string;
  /** Stamps cancel_requested_at (once). */
  cancelRequested?: boolean;
}

/**
 * The inbox event a transition applies, marked in the transition's own statement: its inbox row
 * processed with `result`, and the outbox row of the job that applied it completed (only if it is
 * that job's open row).
 */
export interface AppliedInboxEvent {
  inboxId: number;
  result: string;
  job?: OutboxJobRef;
}

/**
 * With `inboxEvent`, the statement also marks the event's inbox row ($13, $14) and completes its
 * job's outbox row ($15, $16; null when there is no job): the one write of an applied event.
 */
function orderStateSetText(inboxEvent: boolean): string {
  return `with changed as (
     update orders
     set status = $2,
         refund_status = $3,
         shipment_id = coalesce($5, shipment_id),
         payment_id = coalesce(payment_id, $6),
         refund_idempotency_key = coalesce(refund_idempotency_key, $7::uuid),
         cancel_requested_at = case when $8::boolean
                                    then coalesce(cancel_requested_at, now())
                                    else cancel_requested_at end,
         updated_at = now()
     where id = $1
     returning id
   ), h as (
     insert into order_status_history (order_id, status, refund_status, reason)
     select id, $2, $3, $4 from changed
   ), settled as (
     update outbox set completed_at = now()
     where $2 <> 'new' and order_id = $1 and queue = $12
       and completed_at is null and failed_at is null
       and exists (select 1 from changed)
   ), ${
     inboxEvent
       ? `event_done as (${inboxProcessedText('$13', '$14')}),
   job_done as (${outboxCompletedText('$15', '$16')}),`
       : ''
   } ob as (${outboxInsertText('$9', '$10', 'select 1 from changed')})
   select ob.id, pg_notify($11, '') from ob`;
}

const orderStateSet = statement<{ id: number | string }>(
  'order_state_set_with_outbox',
  orderStateSetText(false),
);

const orderStateSetInboxApplied = statement<{ id: number | string }>(
  'order_state_set_inbox_applied',
  orderStateSetText(true),
);

/**
 * Sets the order's state, writes its history row and the follow-up outbox rows, and signals the
 * relay, in one statement (one round trip; nothing of the order's is written unless it exists).
 * An order that leaves `new` needs no more payment checks: its open ones are completed, so the
 * relay never claims those not yet due (and a job already in BullMQ skips), and only orders still
 * waiting on Payments keep check rows open. With `inboxEvent` (the transition an inbound event
 * caused), that event's inbox row and its job's outbox row are marked in the same statement.
 * Returns the outbox row ids in insertion order.
 */
export async function setOrderState(
  tx: Executor,
  change: OrderChange,
  outboxRows: NewOutboxRow[],
  inboxEvent?: AppliedInboxEvent,
): Promise<number[]> {
  const values = [
    change.orderId,
    change.status,
    change.refundStatus,
    change.reason,
    change.shipmentId ?? null,
    change.paymentId ?? null,
    change.refundIdempotencyKey ?? null,
    change.cancelRequested ?? false,
    ...outboxParams(outboxRows),
    OUTBOX_CHANNEL,
    PAYMENT_CHECKS_QUEUE,
  ];
  const inserted = inboxEvent
    ? await run(tx, orderStateSetInboxApplied, [
        ...values,
        inboxEvent.inboxId,
        inboxEvent.result,
        inboxEvent.job?.id ?? null,
        inboxEvent.job?.jobId ?? null,
      ])
    : await run(tx, orderStateSet, values);
  return inserted.map((r) => Number(r.id)).sort((x, y) => x - y);
}
