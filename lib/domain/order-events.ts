import type { OrderState } from './order-state.js';

/**
 * The order events client systems subscribe to (docs/webhooks.md). Which transition emits which
 * is decided here, from the state machine's decision (lib/domain/order-state.ts): a status it
 * reached, or a refund Payments settled. Pure, so every path of the machine is unit-tested.
 */
export const ORDER_EVENT_TYPES = [
  'order.created',
  'order.paid',
  'order.shipped',
  'order.cancelled',
  'order.refunded',
  'order.refund_failed',
] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

/** In a subscription's events: every event, those added later included. */
export const ALL_ORDER_EVENTS = '*';

export function isOrderEventType(value: unknown): value is OrderEventType {
  return (ORDER_EVENT_TYPES as readonly unknown[]).includes(value);
}

/** What a transition changed that a subscriber may be told about. */
export type StateChange = {
  from: Pick<OrderState, 'status' | 'refund'>;
  to: Pick<OrderState, 'status' | 'refund'>;
};

/**
 * The event an accepted transition emits, if any. A new status is the event; a refund settles
 * without a status change (the order stays cancelled). A refund merely requested, a cancellation
 * merely asked of Shipping, or a late payment of a cancelled order tell a subscriber nothing yet:
 * what they lead to (order.refunded, order.cancelled or order.shipped) is the event.
 */
export function orderEventOf({ from, to }: StateChange): OrderEventType | undefined {
  if (to.status !== from.status) {
    switch (to.status) {
      case 'paid':
        return 'order.paid';
      case 'shipped':
        return 'order.shipped';
      case 'cancelled':
        return 'order.cancelled';
      case 'new':
        // The machine never moves an order back to new.
        return undefined;
    }
  }
  if (to.refund !== from.refund) {
    if (to.refund === 'refunded') return 'order.refunded';
    if (to.refund === 'failed') return 'order.refund_failed';
  }
  return undefined;
}
