/**
 * The order state machine: the one place that decides whether an event may move an order and
 * what must follow when it does. Pure (no I/O), so every (status, event) pair is unit-tested.
 *
 *   new ──payment.succeeded──▶ paid ──order.shipped──▶ shipped
 *    │                          │
 *    └─payment.failed─▶ cancelled ◀─shipping.failed / order.cancelled
 *
 * shipped and cancelled are final.
 */
/** The one list of statuses: the table's check constraint and the API's schemas are built from it. */
export const ORDER_STATUSES = ['new', 'paid', 'shipped', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const ORDER_EVENTS = [
  'payment.succeeded',
  'payment.failed',
  'order.shipped',
  'shipping.failed',
  'order.cancelled',
] as const;
export type OrderEvent = (typeof ORDER_EVENTS)[number];

export interface FollowUps {
  /** Tell the customer; every accepted transition does. */
  notify: { event: string; message: string };
  /** Ask Shipping to ship; only when the order became paid. */
  requestShipping: boolean;
}

export interface Accepted {
  ok: true;
  from: OrderStatus;
  to: OrderStatus;
  /** Written to the status-history row. */
  reason: string;
  followUps: FollowUps;
}

export interface Refused {
  ok: false;
  /**
   * duplicate: the order is already where this event would take it (a redelivery, a repeated
   * callback); conflict: the event contradicts the order's state (paid after cancelled, say).
   * Either way nothing changes and the event is not retried; the kind only sets how loudly to log.
   */
  kind: 'duplicate' | 'conflict';
  reason: string;
}

export type Transition = Accepted | Refused;

interface Rule {
  from: OrderStatus;
  to: OrderStatus;
  reason: string;
  notify: { event: string; message: string };
  requestShipping: boolean;
}

const RULES: Record<OrderEvent, Rule> = {
  'payment.succeeded': {
    from: 'new',
    to: 'paid',
    reason: 'payment succeeded',
    notify: { event: 'order.paid', message: 'Your payment was received; your order is paid.' },
    requestShipping: true,
  },
  'payment.failed': {
    from: 'new',
    to: 'cancelled',
    reason: 'payment failed',
    notify: {
      event: 'order.cancelled',
      message: 'Your payment failed, so your order was cancelled.',
    },
    requestShipping: false,
  },
  'order.shipped': {
    from: 'paid',
    to: 'shipped',
    reason: 'shipped',
    notify: { event: 'order.shipped', message: 'Your order has been shipped.' },
    requestShipping: false,
  },
  'shipping.failed': {
    from: 'paid',
    to: 'cancelled',
    reason: 'shipping failed',
    notify: {
      event: 'order.cancelled',
      message: 'Your order could not be shipped and was cancelled.',
    },
    requestShipping: false,
  },
  'order.cancelled': {
    from: 'paid',
    to: 'cancelled',
    reason: 'cancelled by shipping',
    notify: { event: 'order.cancelled', message: 'Your order was cancelled.' },
    requestShipping: false,
  },
};

export function isOrderStatus(value: unknown): value is OrderStatus {
  return (ORDER_STATUSES as readonly unknown[]).includes(value);
}

export function isOrderEvent(value: unknown): value is OrderEvent {
  return (ORDER_EVENTS as readonly unknown[]).includes(value);
}

/** What `event` does to an order in status `from`. */
export function transition(from: OrderStatus, event: OrderEvent): Transition {
  const rule = RULES[event];
  if (from === rule.from) {
    return {
      ok: true,
      from,
      to: rule.to,
      reason: rule.reason,
      followUps: { notify: { ...rule.notify }, requestShipping: rule.requestShipping },
    };
  }
  // Already at this event's target: the same fact told twice. The payment events are also
  // repeats once the order has moved past paid (a late payment.succeeded on a shipped order).
  const duplicate = from === rule.to || (event === 'payment.succeeded' && from === 'shipped');
  return {
    ok: false,
    kind: duplicate ? 'duplicate' : 'conflict',
    reason: `${event} refused: order is ${from}${duplicate ? ' already (duplicate)' : ''}`,
  };
}
