/**
 * The payment checks' writes and reads (lib/orders/check-payment.ts, jobs/processors/payments.ts):
 * recording that Payments accepted a request together with the first check, and scheduling the
 * next check, each in one statement with the completion of the job's own outbox row.
 */
import { OUTBOX_CHANNEL, type NewOutboxRow } from './outbox/events.js';
import type { OrderStatus } from '../lib/domain/order-state.js';
import type { Executor } from './client.js';
import {
  outboxCompletedText,
  outboxInsertText,
  outboxParams,
  type OutboxJobRef,
} from './outbox/rows.js';
import { run, statement } from './statement.js';

const paymentAccepted = statement<{ completed: boolean }>(
  'payment_accepted_with_check',
  `with done as (${outboxCompletedText('$3', '$4')}),
   o as (
     update orders
     set payment_accepted_at = coalesce(payment_accepted_at, now()),
         requested_payment_id = coalesce(requested_payment_id, $2)
     where id = $1 and exists (select 1 from done)
     returning status
   ), ob as (${outboxInsertText('$5', '$6', `select 1 from o where o.status = 'new'`)})
   select exists (select 1 from done) as completed, pg_notify($7, '')`,
);

/**
 * Payments accepted the order's payment request: stamps when (the first time only) and the
 * payment's id when known, writes the first check while the order is still `new`, and completes
 * the payments job's row, in one statement. Nothing is written unless this call completed the
 * row, so a job run twice at once schedules one check. False when the row was completed already.
 */
export async function recordPaymentAccepted(
  ex: Executor,
  accepted: { orderId: string; paymentId?: string; job: OutboxJobRef; firstCheck: NewOutboxRow },
): Promise<boolean> {
  const [row] = await run(ex, paymentAccepted, [
    accepted.orderId,
    accepted.paymentId ?? null,
    accepted.job.id,
    accepted.job.jobId,
    ...outboxParams([accepted.firstCheck]),
    OUTBOX_CHANNEL,
  ]);
  return row?.completed === true;
}

const nextCheck = statement<{ completed: boolean }>(
  'payment_check_next',
  `with done as (${outboxCompletedText('$1', '$2')}),
   ob as (${outboxInsertText('$3', '$4', 'select 1 from done')})
   select exists (select 1 from done) as completed, pg_notify($5, '')`,
);

/**
 * Completes a check's row and writes the next check, in one statement; the next is written only
 * if this call completed the row. False when the row was completed already (the order left `new`
 * meanwhile, or the job ran twice).
 */
export async function scheduleNextCheck(
  ex: Executor,
  job: OutboxJobRef,
  next: NewOutboxRow,
): Promise<boolean> {
  const [row] = await run(ex, nextCheck, [
    job.id,
    job.jobId,
    ...outboxParams([next]),
    OUTBOX_CHANNEL,
  ]);
  return row?.completed === true;
}

export interface OrderToCheck {
  status: OrderStatus;
  requestedPaymentId: string | null;
  /** Time since Payments accepted the request, by the database's clock. */
  sinceAcceptedMs: number;
}

const orderToCheck = statement<{
  status: OrderStatus;
  requested_payment_id: string | null;
  since_accepted_ms: number;
}>(
  'order_to_check',
  // An order checked has its acceptance stamped (one statement writes both); created_at stands in
  // for it should one ever lack it, so the check still ends.
  `select status, requested_payment_id,
     (extract(epoch from now() - coalesce(payment_accepted_at, created_at)) * 1000)::float8
       as since_accepted_ms
   from orders where id = $1`,
);

export async function findOrderToCheck(
  ex: Executor,
  orderId: string,
): Promise<OrderToCheck | undefined> {
  const [row] = await run(ex, orderToCheck, [orderId]);
  return (
    row && {
      status: row.status,
      requestedPaymentId: row.requested_payment_id,
      sinceAcceptedMs: Number(row.since_accepted_ms),
    }
  );
}
