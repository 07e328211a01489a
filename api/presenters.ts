import type { HistoryEntry } from '../db/orders.js';
import type { OrderRow } from '../db/schema.js';
import { isCanonicalUuid } from '../lib/domain/ids.js';

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

/** The order id inside a cursor, taken in by the one rule for ids (lib/domain/ids.ts). */
export function decodeCursor(cursor: string): string | undefined {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return isCanonicalUuid(id) ? id : undefined;
}
