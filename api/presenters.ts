import type { HistoryEntry } from '../db/orders.js';
import type { OrderRow } from '../db/schema.js';

export function orderJson(order: OrderRow, history?: HistoryEntry[]) {
  return {
    id: order.id,
    user_id: order.userId,
    item_id: order.itemId,
    quantity: order.quantity,
    unit_price: order.unitPrice,
    amount: order.amount,
    status: order.status,
    shipment_id: order.shipmentId,
    refund_status: order.refundStatus,
    cancel_requested_at: order.cancelRequestedAt?.toISOString() ?? null,
    created_at: order.createdAt.toISOString(),
    updated_at: order.updatedAt.toISOString(),
    ...(history && {
      history: history.map((h) => ({
        status: h.status,
        refund_status: h.refundStatus,
        reason: h.reason,
        created_at: h.createdAt.toISOString(),
      })),
    }),
  };
}

/** Cursors are opaque to clients; inside, the last order id of the page (ids sort by creation). */
export const encodeCursor = (lastId: string): string =>
  Buffer.from(lastId, 'utf8').toString('base64url');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodeCursor(cursor: string): string | undefined {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return UUID.test(id) ? id : undefined;
}
