import { expect } from 'chai';
import {
  ORDER_EVENTS,
  ORDER_STATUSES,
  isOrderEvent,
  isOrderStatus,
  transition,
  type OrderEvent,
  type OrderStatus,
} from '../../lib/domain/order-state.js';

type Expected =
  | { to: OrderStatus; notify: string; requestShipping: boolean }
  | { refused: 'duplicate' | 'conflict' };

// Every (status, event) pair, written out: the table is the specification.
const TABLE: Record<OrderStatus, Record<OrderEvent, Expected>> = {
  new: {
    'payment.succeeded': { to: 'paid', notify: 'order.paid', requestShipping: true },
    'payment.failed': { to: 'cancelled', notify: 'order.cancelled', requestShipping: false },
    'order.shipped': { refused: 'conflict' },
    'shipping.failed': { refused: 'conflict' },
    'order.cancelled': { refused: 'conflict' },
  },
  paid: {
    'payment.succeeded': { refused: 'duplicate' },
    'payment.failed': { refused: 'conflict' },
    'order.shipped': { to: 'shipped', notify: 'order.shipped', requestShipping: false },
    'shipping.failed': { to: 'cancelled', notify: 'order.cancelled', requestShipping: false },
    'order.cancelled': { to: 'cancelled', notify: 'order.cancelled', requestShipping: false },
  },
  shipped: {
    'payment.succeeded': { refused: 'duplicate' },
    'payment.failed': { refused: 'conflict' },
    'order.shipped': { refused: 'duplicate' },
    'shipping.failed': { refused: 'conflict' },
    'order.cancelled': { refused: 'conflict' },
  },
  cancelled: {
    'payment.succeeded': { refused: 'conflict' },
    'payment.failed': { refused: 'duplicate' },
    'order.shipped': { refused: 'conflict' },
    'shipping.failed': { refused: 'duplicate' },
    'order.cancelled': { refused: 'duplicate' },
  },
};

describe('order state machine', () => {
  for (const from of ORDER_STATUSES) {
    for (const event of ORDER_EVENTS) {
      const expected = TABLE[from][event];
      if ('to' in expected) {
        it(`when a ${from} order gets ${event}, then it becomes ${expected.to}`, () => {
          const result = transition(from, event);

          expect(result.ok).to.equal(true);
          if (!result.ok) return;
          expect(result.from).to.equal(from);
          expect(result.to).to.equal(expected.to);
          expect(result.reason).to.be.a('string').and.not.empty;
          expect(result.followUps.notify.event).to.equal(expected.notify);
          expect(result.followUps.notify.message).to.be.a('string').and.not.empty;
          expect(result.followUps.requestShipping).to.equal(expected.requestShipping);
        });
      } else {
        it(`when a ${from} order gets ${event}, then it is refused as a ${expected.refused}`, () => {
          const result = transition(from, event);

          expect(result.ok).to.equal(false);
          if (result.ok) return;
          expect(result.kind).to.equal(expected.refused);
          expect(result.reason).to.contain(`${event} refused: order is ${from}`);
        });
      }
    }
  }

  it('when the table above is checked, then it covers every status and event', () => {
    expect(Object.keys(TABLE)).to.have.members([...ORDER_STATUSES]);
    for (const from of ORDER_STATUSES) {
      expect(Object.keys(TABLE[from])).to.have.members([...ORDER_EVENTS]);
    }
  });

  it('when an order is shipped or cancelled, then no event moves it (final states)', () => {
    for (const from of ['shipped', 'cancelled'] as const) {
      for (const event of ORDER_EVENTS) expect(transition(from, event).ok).to.equal(false);
    }
  });

  it('when only payment.succeeded is accepted, then only it asks for shipping', () => {
    const asking = ORDER_STATUSES.flatMap((from) =>
      ORDER_EVENTS.map((event) => transition(from, event)).filter(
        (t) => t.ok && t.followUps.requestShipping,
      ),
    );
    expect(asking).to.have.length(1);
    expect(asking[0]).to.include({ from: 'new', to: 'paid' });
  });

  it('when follow-ups are mutated by a caller, then the next transition is unaffected', () => {
    const first = transition('new', 'payment.succeeded');
    if (first.ok) first.followUps.notify.message = 'changed';
    const second = transition('new', 'payment.succeeded');
    expect(second.ok && second.followUps.notify.message).to.not.equal('changed');
  });

  it('when names are checked, then the guards accept exactly the known ones', () => {
    expect(ORDER_STATUSES.every(isOrderStatus)).to.equal(true);
    expect(ORDER_EVENTS.every(isOrderEvent)).to.equal(true);
    expect(isOrderStatus('pending')).to.equal(false);
    expect(isOrderEvent('order.paid')).to.equal(false);
    expect(isOrderEvent(undefined)).to.equal(false);
  });
});
