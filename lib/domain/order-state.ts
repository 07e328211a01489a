/**
 * The order state machine: the one place that decides whether an event may move an order and
 * what must follow when it does. Pure (no I/O), so every (state, event) pair is unit-tested.
 *
 *   new ──payment.succeeded──▶ paid ──order.shipped──▶ shipped
 *    │                          │  ╰─customer.cancel: ask Shipping (status stays paid)
 *    ├─payment.failed           │
 *    ├─payment.expired          │
 *    ├─customer.cancel          │
 *    ▼                          ▼
 *   cancelled ◀──shipping.failed / order.cancelled
 *
 * shipped and cancelled are final. Beside its status an order carries what the rules need: whether
 * a payment succeeded (even after the order was cancelled), whether the customer asked to cancel,
 * and its refund. The invariant, enforced in one place (`withRefund`): a cancelled order whose
 * payment succeeded has a refund, requested exactly once in its life. (Past the usual 200 lines:
 * the states, every rule and the invariant read better in one file than split.)
 */
import { NOTICES as N, type Notice } from './order-notices.js';

export type { Notice } from './order-notices.js';

/** The one list of statuses: the table's check constraint and the API's schemas are built from it. */
export const ORDER_STATUSES = ['new', 'paid', 'shipped', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** requested: asked of Payments; refunded / failed: what Payments answered. */
export const REFUND_STATUSES = ['requested', 'refunded', 'failed'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

export const ORDER_EVENTS = [
  'payment.succeeded',
  'payment.failed',
  /**
   * No final answer from Payments PAYMENT_EXPIRE_AFTER_MS after it accepted the request (the
   * payment check decides it, lib/orders/check-payment.ts).
   */
  'payment.expired',
  'order.shipped',
  'shipping.failed',
  'order.cancelled',
  /** The customer asks to cancel (POST /api/v1/orders/:id/cancel). */
  'customer.cancel',
  'refund.succeeded',
  'refund.failed',
] as const;
export type OrderEvent = (typeof ORDER_EVENTS)[number];

export interface OrderState {
  status: OrderStatus;
  /** A payment succeeded for the order: money was taken, whatever the status says now. */
  paymentReceived: boolean;
  /** The customer asked to cancel; in `paid`, Shipping's answer is awaited. */
  cancelRequested: boolean;
  refund: RefundStatus | null;
}

export const NEW_ORDER: Readonly<OrderState> = {
  status: 'new',
  paymentReceived: false,
  cancelRequested: false,
  refund: null,
};

/** An order's state from what is stored of it (db/schema.ts's row has these fields). */
export function orderStateOf(order: {
  status: OrderStatus;
  paymentId: string | null;
  cancelRequestedAt: Date | null;
  refundStatus: RefundStatus | null;
}): OrderState {
  return {
    status: order.status,
    // A paid or shipped order was paid even if it predates the payment_id column.
    paymentReceived:
      order.paymentId !== null || order.status === 'paid' || order.status === 'shipped',
    cancelRequested: order.cancelRequestedAt !== null,
    refund: order.refundStatus,
  };
}

export interface FollowUps {
  /** Tell the customer; every accepted transition does. */
  notify: Notice;
  /** Ask Shipping to ship; only when the order became paid. */
  requestShipping: boolean;
  /** Ask Shipping to cancel; only when the customer cancels a paid order. */
  requestCancellation: boolean;
  /** Ask Payments to refund; at most once in an order's life. */
  requestRefund: boolean;
}

export interface Accepted {
  ok: true;
  from: OrderState;
  to: OrderState;
  /** Written to the status-history row. */
  reason: string;
  followUps: FollowUps;
}

export interface Refused {
  ok: false;
  /**
   * duplicate: the order is already where this event would take it (a redelivery, a repeated
   * callback or request); conflict: the event contradicts the order's state (shipped after
   * cancelled, say). Either way nothing changes and the event is not retried.
   */
  kind: 'duplicate' | 'conflict';
  reason: string;
}

export type Transition = Accepted | Refused;

type Step =
  | { change: Partial<OrderState>; reason: string; notify: Notice; ask?: 'shipping' | 'cancel' }
  | { refuse: 'duplicate' | 'conflict' };

const DUPLICATE: Step = { refuse: 'duplicate' };
const CONFLICT: Step = { refuse: 'conflict' };
const cancelledBy = (reason: string, notify: Notice): Step => ({
  change: { status: 'cancelled' },
  reason,
  notify,
});

/** What each event does in each state; `withRefund` then adds the refund where one is owed. */
const RULES: Record<OrderEvent, (s: OrderState) => Step> = {
  'payment.succeeded': (s) => {
    if (s.status === 'new') {
      const change = { status: 'paid', paymentReceived: true } as const;
      return { change, reason: 'payment succeeded', notify: N.paid, ask: 'shipping' };
    }
    if (s.paymentReceived) return DUPLICATE;
    // Cancelled before the money arrived: the money is not kept.
    const reason = 'payment succeeded after the order was cancelled';
    return { change: { paymentReceived: true }, reason, notify: N.latePayment };
  },
  'payment.failed': (s) => {
    if (s.status === 'new') return cancelledBy('payment failed', N.paymentFailed);
    return s.status === 'cancelled' ? DUPLICATE : CONFLICT;
  },
  'payment.expired': (s) => {
    if (s.status === 'new') return cancelledBy('payment expired', N.paymentExpired);
    return s.status === 'cancelled' ? DUPLICATE : CONFLICT;
  },
  'order.shipped': (s) => {
    if (s.status === 'paid') {
      return s.cancelRequested
        ? {
            change: { status: 'shipped' },
            reason: 'shipped (cancellation too late)',
            notify: N.tooLate,
          }
        : { change: { status: 'shipped' }, reason: 'shipped', notify: N.shipped };
    }
    return s.status === 'shipped' ? DUPLICATE : CONFLICT;
  },
  'shipping.failed': (s) => {
    if (s.status === 'paid') return cancelledBy('shipping failed', N.shippingFailed);
    return s.status === 'cancelled' ? DUPLICATE : CONFLICT;
  },
  'order.cancelled': (s) => {
    if (s.status === 'paid') {
      return s.cancelRequested
        ? cancelledBy("cancelled by Shipping at the customer's request", N.cancelledAsAskedRefund)
        : cancelledBy('cancelled by shipping', N.cancelledByShipping);
    }
    return s.status === 'cancelled' ? DUPLICATE : CONFLICT;
  },
  'customer.cancel': (s) => {
    if (s.cancelRequested && (s.status === 'paid' || s.status === 'cancelled')) return DUPLICATE;
    if (s.status === 'new') {
      const change = { status: 'cancelled', cancelRequested: true } as const;
      return { change, reason: 'cancelled by the customer', notify: N.cancelledAsAsked };
    }
    if (s.status === 'paid') {
      const reason = 'the customer asked to cancel; cancellation requested from Shipping';
      return {
        change: { cancelRequested: true },
        reason,
        notify: N.cancelRequested,
        ask: 'cancel',
      };
    }
    return CONFLICT;
  },
  'refund.succeeded': (s) => {
    if (s.refund === 'requested' || s.refund === 'failed') {
      return { change: { refund: 'refunded' }, reason: 'refunded', notify: N.refunded };
    }
    return s.refund === 'refunded' ? DUPLICATE : CONFLICT;
  },
  'refund.failed': (s) => {
    if (s.refund === 'requested') {
      return { change: { refund: 'failed' }, reason: 'refund failed', notify: N.refundFailed };
    }
    return s.refund === 'failed' ? DUPLICATE : CONFLICT;
  },
};

/** The invariant's one enforcement: money received for a cancelled order is asked back, once. */
function withRefund(to: OrderState): { to: OrderState; requestRefund: boolean } {
  const owed = to.status === 'cancelled' && to.paymentReceived && to.refund === null;
  return owed
    ? { to: { ...to, refund: 'requested' }, requestRefund: true }
    : { to, requestRefund: false };
}

export function isOrderStatus(value: unknown): value is OrderStatus {
  return (ORDER_STATUSES as readonly unknown[]).includes(value);
}

export function isRefundStatus(value: unknown): value is RefundStatus {
  return (REFUND_STATUSES as readonly unknown[]).includes(value);
}

export function isOrderEvent(value: unknown): value is OrderEvent {
  return (ORDER_EVENTS as readonly unknown[]).includes(value);
}

/** A short account of a state, for refusal reasons: `paid (cancellation requested)`. */
export function describeState(s: OrderState): string {
  const notes = [
    s.cancelRequested ? 'cancellation requested' : undefined,
    s.refund ? `refund ${s.refund}` : undefined,
  ].filter((n): n is string => n !== undefined);
  return notes.length ? `${s.status} (${notes.join(', ')})` : s.status;
}

/** What `event` does to an order in state `from`. */
export function transition(from: Readonly<OrderState>, event: OrderEvent): Transition {
  const step = RULES[event](from);
  if ('refuse' in step) {
    const duplicate = step.refuse === 'duplicate';
    return {
      ok: false,
      kind: step.refuse,
      reason: `${event} refused: order is ${describeState(from)}${duplicate ? ' already (duplicate)' : ''}`,
    };
  }
  const { to, requestRefund } = withRefund({ ...from, ...step.change });
  return {
    ok: true,
    from: { ...from },
    to,
    reason: step.reason,
    followUps: {
      notify: { ...step.notify },
      requestShipping: step.ask === 'shipping',
      requestCancellation: step.ask === 'cancel',
      requestRefund,
    },
  };
}
