import { expect } from 'chai';
import {
  ORDER_EVENT_TYPES,
  isOrderEventType,
  orderEventOf,
  type OrderEventType,
} from '../../lib/domain/order-events.js';
import {
  NEW_ORDER,
  ORDER_EVENTS,
  transition,
  type OrderEvent,
  type OrderState,
} from '../../lib/domain/order-state.js';

interface Step {
  event: OrderEvent;
  emitted: OrderEventType | undefined;
}

/**
 * Every path an order can take through the state machine, from `new` until no event moves it any
 * more: each as its accepted steps, with the webhook event each emitted.
 */
function everyPath(): Step[][] {
  const paths: Step[][] = [];
  const walk = (state: OrderState, steps: Step[], depth: number) => {
    // The machine only moves forward; a path longer than this would mean a cycle.
    if (depth > 20) throw new Error(`path too long: ${steps.map((s) => s.event).join(' > ')}`);
    let moved = false;
    for (const event of ORDER_EVENTS) {
      const t = transition(state, event);
      if (!t.ok) continue;
      moved = true;
      walk(t.to, [...steps, { event, emitted: orderEventOf(t) }], depth + 1);
    }
    if (!moved) paths.push(steps);
  };
  walk(NEW_ORDER, [], 0);
  return paths;
}

const emittedAlong = (path: Step[]) =>
  path.map((s) => s.emitted).filter((e): e is OrderEventType => e !== undefined);

describe('order events (webhooks)', () => {
  const paths = everyPath();

  it('when every path of the state machine is walked, then each event type is emitted on some path, and only known types', () => {
    const seen = new Set(paths.flatMap(emittedAlong));

    expect([...seen].sort()).to.deep.equal(
      ORDER_EVENT_TYPES.filter((e) => e !== 'order.created').sort(),
    );
    for (const e of seen) expect(isOrderEventType(e)).to.equal(true);
  });

  it('when an order moves along any path, then each status it reaches is announced exactly once, and a settled refund once', () => {
    for (const path of paths) {
      const events = emittedAlong(path);
      const label = path.map((s) => s.event).join(' > ');
      // No event twice on one path: a subscriber's deduplication never has to hide a repeat.
      expect(new Set(events).size, label).to.equal(events.length);
      // Final states: one of shipped or cancelled, never both.
      const finals = events.filter((e) => e === 'order.shipped' || e === 'order.cancelled');
      expect(finals, label).to.have.length(1);
      if (events.includes('order.shipped')) {
        expect(events.indexOf('order.paid'), label).to.be.lessThan(events.indexOf('order.shipped'));
      }
      // A refund settles only after the cancellation that owed it.
      for (const refund of ['order.refunded', 'order.refund_failed'] as const) {
        if (events.includes(refund)) {
          expect(events.indexOf('order.cancelled'), label).to.be.lessThan(events.indexOf(refund));
        }
      }
    }
  });

  it('when a transition changes neither status nor settles a refund, then it emits nothing', () => {
    for (const path of paths) {
      for (const step of path) {
        if (step.event === 'payment.succeeded' && step.emitted === undefined) continue;
        if (step.event === 'customer.cancel' && step.emitted === undefined) continue;
        // Every other accepted step moves the status or settles the refund.
        expect(step.emitted, `${step.event} along ${path.map((s) => s.event).join(' > ')}`).to.not
          .be.undefined;
      }
    }
    // The customer asking a paid order to cancel: Shipping decides, nothing to tell yet.
    const paid = transition(NEW_ORDER, 'payment.succeeded');
    if (!paid.ok) throw new Error('payment.succeeded must move a new order');
    const asked = transition(paid.to, 'customer.cancel');
    if (!asked.ok) throw new Error('customer.cancel must be accepted on a paid order');
    expect(orderEventOf(asked)).to.equal(undefined);
  });

  it('when each transition is named, then it emits the event of its result', () => {
    const cases: [
      Pick<OrderState, 'status' | 'refund'>,
      Pick<OrderState, 'status' | 'refund'>,
      OrderEventType | undefined,
    ][] = [
      [{ status: 'new', refund: null }, { status: 'paid', refund: null }, 'order.paid'],
      [{ status: 'paid', refund: null }, { status: 'shipped', refund: null }, 'order.shipped'],
      [{ status: 'new', refund: null }, { status: 'cancelled', refund: null }, 'order.cancelled'],
      [
        { status: 'paid', refund: null },
        { status: 'cancelled', refund: 'requested' },
        'order.cancelled',
      ],
      [
        { status: 'cancelled', refund: 'requested' },
        { status: 'cancelled', refund: 'refunded' },
        'order.refunded',
      ],
      [
        { status: 'cancelled', refund: 'failed' },
        { status: 'cancelled', refund: 'refunded' },
        'order.refunded',
      ],
      [
        { status: 'cancelled', refund: 'requested' },
        { status: 'cancelled', refund: 'failed' },
        'order.refund_failed',
      ],
      [
        { status: 'cancelled', refund: null },
        { status: 'cancelled', refund: 'requested' },
        undefined,
      ],
    ];
    for (const [from, to, event] of cases) {
      expect(
        orderEventOf({ from, to }),
        `${JSON.stringify(from)} → ${JSON.stringify(to)}`,
      ).to.equal(event);
    }
  });
});
