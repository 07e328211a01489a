import type { Db } from '../../db/client.js';
import { lockOrder } from '../../db/order-transitions.js';
import { orderHistory } from '../../db/orders.js';
import type { OrderRow } from '../../db/schema.js';
import { NotCancellableError, NotFoundError } from '../domain/errors.js';
import { orderStateOf, transition } from '../domain/order-state.js';
import { applyTransition } from './apply-transition.js';

export interface CancelOrderInput {
  orderId: string;
  /** Must be the order's user: anyone else is told the order does not exist. */
  userId: string;
  /** The customer's words, kept in the history row. */
  reason?: string;
}

export interface CancelOrderResult {
  /** The order after the request: `cancelled`, or `paid` with the cancellation awaiting Shipping. */
  order: OrderRow;
  /** False for a repeat of a cancellation already made: nothing changed. */
  changed: boolean;
}

/**
 * The customer cancels their order (the state machine, lib/domain/order-state.ts, decides what
 * that means in each status): in one transaction the order is locked, the state machine decides,
 * and the change, its history row and its follow-ups (a notification; in `paid` a cancellation
 * request to Shipping) are written. Throws NotFoundError for an unknown order or another user's (the same
 * answer, so order ids cannot be probed) and NotCancellableError for a shipped order or one
 * cancelled for another reason.
 */
export async function cancelOrder(db: Db, input: CancelOrderInput): Promise<CancelOrderResult> {
  return db.transaction(async (tx) => {
    const order = await lockOrder(tx, input.orderId);
    if (!order || order.userId !== input.userId) {
      throw new NotFoundError(`order ${input.orderId} does not exist`, 'id');
    }
    const decision = transition(orderStateOf(order), 'customer.cancel');
    if (!decision.ok) {
      if (decision.kind === 'duplicate') return { order, changed: false };
      throw new NotCancellableError(await whyNot(tx, order), 'id');
    }
    const reason = input.reason ? `${decision.reason}: ${input.reason}` : decision.reason;
    await applyTransition(tx, order, { ...decision, reason });
    const changed = await lockOrder(tx, order.id);
    if (!changed) throw new Error(`order ${order.id} vanished while locked`);
    return { order: changed, changed: true };
  });
}

async function whyNot(tx: Parameters<typeof orderHistory>[0], order: OrderRow): Promise<string> {
  if (order.status === 'shipped') {
    return `order ${order.id} has been shipped and can no longer be cancelled`;
  }
  const last = (await orderHistory(tx, order.id)).findLast((h) => h.status === order.status);
  const cause = last?.reason ? ` (${last.reason})` : '';
  return `order ${order.id} is already ${order.status}${cause}`;
}
