import type { OrderRow } from '../../db/schema.js';
import { orderWebhook, WEBHOOK_NOW, type NewOutboxRow } from '../../db/outbox/events.js';
import { orderEventOf } from '../domain/order-events.js';
import type { Accepted } from '../domain/order-state.js';
import { orderView } from './order-view.js';

/**
 * The webhook templates of an order's writes (docs/webhooks.md): the order as GET will show it
 * once the write commits. What the writing statement sets to now() is left to it (WEBHOOK_NOW),
 * so the body's times are the stored ones to the millisecond.
 */

/** order.created, for the order intake is about to insert (status new, created and updated now). */
export function createdWebhook(
  order: Pick<OrderRow, 'id' | 'userId' | 'itemId' | 'quantity' | 'unitPrice' | 'amount'>,
): NewOutboxRow {
  const view = orderView({
    ...order,
    status: 'new',
    shipmentId: null,
    refundStatus: null,
    cancelRequestedAt: null,
    // Set by the INSERT's now(): replaced below.
    createdAt: new Date(0),
    updatedAt: new Date(0),
  });
  return orderWebhook('order.created', order.id, {
    ...view,
    created_at: WEBHOOK_NOW,
    updated_at: WEBHOOK_NOW,
  });
}

/**
 * The event an accepted transition emits (lib/domain/order-events.ts), for the order as
 * setOrderState leaves it; undefined when it emits none.
 */
export function transitionWebhook(
  order: OrderRow,
  decision: Accepted,
  shipmentId: string | undefined,
): NewOutboxRow | undefined {
  const event = orderEventOf(decision);
  if (!event) return undefined;
  const { to } = decision;
  const view = orderView({
    ...order,
    status: to.status,
    refundStatus: to.refund,
    shipmentId: shipmentId ?? order.shipmentId,
  });
  // setOrderState stamps cancel_requested_at once, with its now().
  const cancelStamped = to.cancelRequested && order.cancelRequestedAt === null;
  return orderWebhook(event, order.id, {
    ...view,
    cancel_requested_at: cancelStamped ? WEBHOOK_NOW : view.cancel_requested_at,
    updated_at: WEBHOOK_NOW,
  });
}
