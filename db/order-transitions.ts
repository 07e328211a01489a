import { eq, sql } from 'drizzle-orm';
import type { OrderStatus, RefundStatus } from '../lib/domain/order-state.js';
import type { Executor } from './client.js';
import { orders, orderStatusHistory, type OrderRow } from './schema.js';

/**
 * The only writes of an order's state. Callers (the inbox use case, customer cancellation) decide
 * with lib/domain/order-state; these just lock, set and record.
 */

/** The order, locked FOR UPDATE: transitions of one order are applied one at a time. */
export async function lockOrder(tx: Executor, id: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(orders).where(eq(orders.id, id)).for('update');
  return row;
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

/** Sets the order's state and writes its history row, in one statement (one round trip). */
export async function setOrderState(tx: Executor, change: OrderChange): Promise<void> {
  const { orderId, status, refundStatus, reason } = change;
  await tx.execute(sql`
    with changed as (
      update ${orders}
      set status = ${status},
          refund_status = ${refundStatus},
          shipment_id = coalesce(${change.shipmentId ?? null}, ${orders.shipmentId}),
          payment_id = coalesce(${orders.paymentId}, ${change.paymentId ?? null}),
          refund_idempotency_key = coalesce(${orders.refundIdempotencyKey},
                                            ${change.refundIdempotencyKey ?? null}::uuid),
          cancel_requested_at = case when ${change.cancelRequested ?? false}::boolean
                                     then coalesce(${orders.cancelRequestedAt}, now())
                                     else ${orders.cancelRequestedAt} end,
          updated_at = now()
      where ${orders.id} = ${orderId}
      returning ${orders.id}
    )
    insert into ${orderStatusHistory} (order_id, status, refund_status, reason)
    select id, ${status}, ${refundStatus}, ${reason} from changed`);
}
