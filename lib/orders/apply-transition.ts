import type { Executor } from '../../db/client.js';
import { setOrderState, type AppliedInboxEvent } from '../../db/order-transitions.js';
import type { OrderRow } from '../../db/schema.js';
import { effectKey } from '../domain/effect-keys.js';
import { transitionWebhook } from './order-webhooks.js';
import type { Accepted } from '../domain/order-state.js';
import {
  cancellationRequested,
  notification,
  refundRequested,
  shippingRequested,
  type NewOutboxRow,
} from '../../db/outbox/events.js';

/** What the event that caused a transition tells beyond its type. */
export interface EventFacts {
  /** Shipping's id for the shipment (order.shipped). */
  shipmentId?: string;
  /** Payments' id for the payment (payment.succeeded). */
  paymentId?: string;
}

/**
 * Writes an accepted transition inside the caller's transaction, with the order locked: the new
 * state, its history row and the follow-up outbox rows the state machine asked for (which also
 * NOTIFY the relay), in one statement. Returns the outbox row ids. The one writer of transitions,
 * so the inbox processor and customer cancellation cannot differ in what a transition leaves
 * behind. `inboxEvent`, for a transition an inbound event caused: its inbox row is marked
 * processed and its job's outbox row completed by the same statement, so applying an event is
 * one round trip.
 */
export async function applyTransition(
  tx: Executor,
  order: OrderRow,
  decision: Accepted,
  facts: EventFacts = {},
  inboxEvent?: AppliedInboxEvent,
): Promise<number[]> {
  const { to, followUps } = decision;
  // The payment that succeeded is the one refunded: recorded now, or by an earlier event.
  const paymentId = order.paymentId ?? (to.paymentReceived ? facts.paymentId : undefined);
  const refundKey = followUps.requestRefund ? effectKey(order.id, 'refund') : undefined;

  const rows: NewOutboxRow[] = [
    notification(order, followUps.notify.event, followUps.notify.message),
  ];
  if (followUps.requestShipping) rows.push(shippingRequested(order));
  if (followUps.requestCancellation) rows.push(cancellationRequested(order));
  if (refundKey !== undefined) {
    rows.push(
      refundRequested(order, {
        // Empty only for an order paid before payment ids were kept and whose callback retention
        // deleted: the row then fails as undispatchable, visibly, instead of refunding blindly.
        paymentId: paymentId ?? '',
        reason: `order cancelled: ${decision.reason}`,
        idempotencyKey: refundKey,
      }),
    );
  }
  const webhook = transitionWebhook(order, decision, facts.shipmentId);
  if (webhook) rows.push(webhook);
  return setOrderState(
    tx,
    {
      orderId: order.id,
      status: to.status,
      refundStatus: to.refund,
      reason: decision.reason,
      shipmentId: facts.shipmentId,
      paymentId,
      refundIdempotencyKey: refundKey,
      cancelRequested: to.cancelRequested,
    },
    rows,
    inboxEvent,
  );
}
