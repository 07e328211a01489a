import type { HistoryEntry } from '../../db/orders.js';
import type { OrderRow } from '../../db/schema.js';

/**
 * The order as clients see it: the API's answers (api/presenters.ts) and the webhooks' `data`
 * (lib/orders/order-webhooks.ts) are both this shape, so a subscriber gets what GET shows.
 */
export type OrderView = ReturnType<typeof orderView>;

/** What of a stored order clients see. */
export type ShownOrder = Pick<
  OrderRow,
  | 'id'
  | 'userId'
  | 'itemId'
  | 'quantity'
  | 'unitPrice'
  | 'amount'
  | 'status'
  | 'shipmentId'
  | 'refundStatus'
  | 'cancelRequestedAt'
  | 'createdAt'
  | 'updatedAt'
>;

export function orderView(order: ShownOrder) {
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
  };
}

/** The order with its status history, when given (GET of one order, the journey). */
export function orderJson(order: OrderRow, history?: HistoryEntry[]) {
  return {
    ...orderView(order),
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
