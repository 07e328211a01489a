import { eq, sql } from 'drizzle-orm';
import type { Executor } from './client.js';
import { orders, orderStatusHistory, type OrderRow } from './schema.js';

/**
 * The only writes of an order's status. Callers (the inbox use case) decide with lib/order-state;
 * these just lock, set and record.
 */

/** The order, locked FOR UPDATE: transitions of one order are applied one at a time. */
export async function lockOrder(tx: Executor, id: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(orders).where(eq(orders.id, id)).for('update');
  return row;
}

export interface StatusChange {
  orderId: string;
  status: string;
  reason: string;
  /** Set only when given; an earlier shipment id is kept otherwise. */
  shipmentId?: string;
}

/** Sets the status and writes its history row, in one statement (one round trip). */
export async function setOrderStatus(tx: Executor, change: StatusChange): Promise<void> {
  const { orderId, status, reason, shipmentId } = change;
  await tx.execute(sql`
    with changed as (
      update ${orders}
      set status = ${status},
          shipment_id = coalesce(${shipmentId ?? null}, ${orders.shipmentId}),
          updated_at = now()
      where ${orders.id} = ${orderId}
      returning ${orders.id}
    )
    insert into ${orderStatusHistory} (order_id, status, reason)
    select id, ${status}, ${reason} from changed`);
}
