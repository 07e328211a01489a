import { expect } from 'chai';
import fc from 'fast-check';
import {
  NEW_ORDER,
  ORDER_EVENTS,
  ORDER_STATUSES,
  REFUND_STATUSES,
  isOrderEvent,
  isOrderStatus,
  isRefundStatus,
  orderStateOf,
  transition,
  type OrderEvent,
  type OrderState,
} from '../../lib/domain/order-state.js';

// The states an order can reach, named. `by customer`: the customer asked to cancel.
const STATES = {
  new: NEW_ORDER,
  paid: { status: 'paid', paymentReceived: true, cancelRequested: false, refund: null },
  'paid, cancel asked': {
    status: 'paid',
    paymentReceived: true,
    cancelRequested: true,
    refund: null,
  },
  shipped: { status: 'shipped', paymentReceived: true, cancelRequested: false, refund: null },
  'shipped, cancel too late': {
    status: 'shipped',
    paymentReceived: true,
    cancelRequested: true,
    refund: null,
  },
  'cancelled, unpaid': {
    status: 'cancelled',
    paymentReceived: false,
    cancelRequested: false,
    refund: null,
  },
  'cancelled by customer, unpaid': {
    status: 'cancelled',
    paymentReceived: false,
    cancelRequested: true,
    refund: null,
  },
  ...refundStates('cancelled', false),
  ...refundStates('cancelled by customer', true),
} satisfies Record<string, OrderState>;
type StateName = keyof typeof STATES;

function refundStates<P extends string>(prefix: P, cancelRequested: boolean) {
  const state = (refund: 'requested' | 'refunded' | 'failed') => ({
    status: 'cancelled' as const,
    paymentReceived: true,
    cancelRequested,
    refund,
  });
  return {
    [`${prefix}, refund requested`]: state('requested'),
    [`${prefix}, refunded`]: state('refunded'),
    [`${prefix}, refund failed`]: state('failed'),
  } as Record<`${P}, refund ${'requested' | 'failed'}` | `${P}, refunded`, OrderState>;
}

/** Accepted: [state it goes to, notification event, follow-up asked]; or refused as dup/conflict. */
type Expected = [StateName, string, ('shipping' | 'cancel' | 'refund')?] | 'dup' | 'conflict';

const P = 'payment.succeeded';
const F = 'payment.failed';
const X = 'payment.expired';
const SH = 'order.shipped';
const SF = 'shipping.failed';
const OC = 'order.cancelled';
const CC = 'customer.cancel';
const RS = 'refund.succeeded';
const RF = 'refund.failed';

const cancelled = (whose: 'cancelled' | 'cancelled by customer', refund: string) => ({
  [P]: 'dup',
  [F]: 'dup',
  [X]: 'dup',
  [SH]: 'conflict',
  [SF]: 'dup',
  [OC]: 'dup',
  [CC]: whose === 'cancelled' ? 'conflict' : 'dup',
  [RS]: refund === 'refunded' ? 'dup' : [`${whose}, refunded`, 'order.refunded'],
  [RF]:
    refund === 'requested'
      ? [`${whose}, refund failed`, 'order.refund_failed']
      : refund === 'failed'
        ? 'dup'
        : 'conflict',
});
const final = {
  [P]: 'dup',
  [F]: 'conflict',
  [X]: 'conflict',
  [SH]: 'dup',
  [SF]: 'conflict',
  [OC]: 'conflict',
};
const noRefund = { [RS]: 'conflict', [RF]: 'conflict' };

// Every (state, event) pair, written out: the table is the specification.
const TABLE = {
  new: {
    [P]: ['paid', 'order.paid', 'shipping'],
    [F]: ['cancelled, unpaid', 'order.cancelled'],
    [X]: ['cancelled, unpaid', 'order.cancelled'],
    [SH]: 'conflict',
    [SF]: 'conflict',
    [OC]: 'conflict',
    [CC]: ['cancelled by customer, unpaid', 'order.cancelled'],
    ...noRefund,
  },
  paid: {
    [P]: 'dup',
    [F]: 'conflict',
    [X]: 'conflict',
    [SH]: ['shipped', 'order.shipped'],
    [SF]: ['cancelled, refund requested', 'order.cancelled', 'refund'],
    [OC]: ['cancelled, refund requested', 'order.cancelled', 'refund'],
    [CC]: ['paid, cancel asked', 'order.cancel_requested', 'cancel'],
    ...noRefund,
  },
  'paid, cancel asked': {
    [P]: 'dup',
    [F]: 'conflict',
    [X]: 'conflict',
    [SH]: ['shipped, cancel too late', 'order.cancel_too_late'],
    [SF]: ['cancelled by customer, refund requested', 'order.cancelled', 'refund'],
    [OC]: ['cancelled by customer, refund requested', 'order.cancelled', 'refund'],
    [CC]: 'dup',
    ...noRefund,
  },
  shipped: { ...final, [CC]: 'conflict', ...noRefund },
  'shipped, cancel too late': { ...final, [CC]: 'conflict', ...noRefund },
  'cancelled, unpaid': {
    // A success after a failure, or after nothing: the money is asked back.
    [P]: ['cancelled, refund requested', 'order.refund_requested', 'refund'],
    [F]: 'dup',
    [X]: 'dup',
    [SH]: 'conflict',
    [SF]: 'dup',
    [OC]: 'dup',
    [CC]: 'conflict',
    ...noRefund,
  },
  'cancelled by customer, unpaid': {
    [P]: ['cancelled by customer, refund requested', 'order.refund_requested', 'refund'],
    [F]: 'dup',
    [X]: 'dup',
    [SH]: 'conflict',
    [SF]: 'dup',
    [OC]: 'dup',
    [CC]: 'dup',
    ...noRefund,
  },
  'cancelled, refund requested': cancelled('cancelled', 'requested'),
  'cancelled, refunded': cancelled('cancelled', 'refunded'),
  'cancelled, refund failed': cancelled('cancelled', 'failed'),
  'cancelled by customer, refund requested': cancelled('cancelled by customer', 'requested'),
  'cancelled by customer, refunded': cancelled('cancelled by customer', 'refunded'),
  'cancelled by customer, refund failed': cancelled('cancelled by customer', 'failed'),
} as Record<StateName, Record<OrderEvent, Expected>>;

const nameOf = (s: OrderState): StateName | undefined =>
  (Object.keys(STATES) as StateName[]).find((n) => {
    const known = STATES[n];
    return (
      known.status === s.status &&
      known.paymentReceived === s.paymentReceived &&
      known.cancelRequested === s.cancelRequested &&
      known.refund === s.refund
    );
  });

describe('order state machine', () => {
  for (const from of Object.keys(TABLE) as StateName[]) {
    for (const event of ORDER_EVENTS) {
      const expected = TABLE[from][event];
      if (Array.isArray(expected)) {
        const [to, notify, ask] = expected;
        it(`when a ${from} order gets ${event}, then it becomes ${to}${ask ? ` and asks for ${ask}` : ''}`, () => {
          const result = transition(STATES[from], event);

          expect(result.ok).to.equal(true);
          if (!result.ok) return;
          expect(result.from).to.deep.equal(STATES[from]);
          expect(nameOf(result.to)).to.equal(to);
          expect(result.reason).to.be.a('string').and.not.empty;
          expect(result.followUps.notify.event).to.equal(notify);
          expect(result.followUps.notify.message).to.be.a('string').and.not.empty;
          expect(result.followUps.requestShipping).to.equal(ask === 'shipping');
          expect(result.followUps.requestCancellation).to.equal(ask === 'cancel');
          expect(result.followUps.requestRefund).to.equal(ask === 'refund');
        });
      } else {
        const kind = expected === 'dup' ? 'duplicate' : 'conflict';
        it(`when a ${from} order gets ${event}, then it is refused as a ${kind}`, () => {
          const result = transition(STATES[from], event);

          expect(result.ok).to.equal(false);
          if (result.ok) return;
          expect(result.kind).to.equal(kind);
          expect(result.reason).to.contain(`${event} refused: order is ${STATES[from].status}`);
        });
      }
    }
  }

  it('when the table above is checked, then it covers every event of exactly the reachable states', () => {
    const reachable = new Set<StateName>();
    const queue: OrderState[] = [NEW_ORDER];
    while (queue.length) {
      const state = queue.pop()!;
      const name = nameOf(state);
      expect(name, `a state the table does not name: ${JSON.stringify(state)}`).to.be.a('string');
      if (reachable.has(name!)) continue;
      reachable.add(name!);
      for (const event of ORDER_EVENTS) {
        const t = transition(state, event);
        if (t.ok) queue.push(t.to);
      }
    }
    expect([...reachable]).to.have.members(Object.keys(TABLE));
    for (const from of reachable)
      expect(Object.keys(TABLE[from])).to.have.members([...ORDER_EVENTS]);
  });

  it('when an order is shipped or cancelled, then no event changes its status (final states)', () => {
    for (const from of Object.values(STATES).filter(
      (s) => s.status !== 'new' && s.status !== 'paid',
    )) {
      for (const event of ORDER_EVENTS) {
        const t = transition(from, event);
        if (t.ok) expect(t.to.status).to.equal(from.status);
      }
    }
  });

  it('when follow-ups are mutated by a caller, then the next transition is unaffected', () => {
    const first = transition(NEW_ORDER, 'payment.succeeded');
    if (first.ok) first.followUps.notify.message = 'changed';
    const second = transition(NEW_ORDER, 'payment.succeeded');
    expect(second.ok && second.followUps.notify.message).to.not.equal('changed');
  });

  it('when names are checked, then the guards accept exactly the known ones', () => {
    expect(ORDER_STATUSES.every(isOrderStatus)).to.equal(true);
    expect(ORDER_EVENTS.every(isOrderEvent)).to.equal(true);
    expect(REFUND_STATUSES.every(isRefundStatus)).to.equal(true);
    expect(isOrderStatus('pending')).to.equal(false);
    expect(isOrderEvent('order.paid')).to.equal(false);
    expect(isRefundStatus('refund_failed')).to.equal(false);
    expect(isOrderEvent(undefined)).to.equal(false);
  });

  it('when a stored order predates payment ids, then paid and shipped still count as paid', () => {
    const row = { paymentId: null, cancelRequestedAt: null, refundStatus: null };
    expect(orderStateOf({ ...row, status: 'paid' }).paymentReceived).to.equal(true);
    expect(orderStateOf({ ...row, status: 'cancelled' }).paymentReceived).to.equal(false);
    expect(
      orderStateOf({ ...row, status: 'cancelled', paymentId: 'pay-1', refundStatus: 'requested' }),
    ).to.deep.equal(STATES['cancelled, refund requested']);
  });

  describe('the refund invariant, over random event orders', () => {
    /** Runs events in order; counts what the order asked for along the way. */
    function run(events: readonly OrderEvent[]) {
      let state: OrderState = NEW_ORDER;
      const asked = { refunds: 0, shipping: 0, cancellations: 0 };
      const statuses = [state.status];
      for (const event of events) {
        const t = transition(state, event);
        if (!t.ok) continue;
        if (t.followUps.requestRefund) asked.refunds++;
        if (t.followUps.requestShipping) asked.shipping++;
        if (t.followUps.requestCancellation) asked.cancellations++;
        state = t.to;
        statuses.push(state.status);
      }
      return { state, asked, statuses };
    }

    const anyEvents = fc.array(fc.constantFrom(...ORDER_EVENTS), { maxLength: 40 });

    /**
     * What the world can send one order: a payment result or two (a success may follow a failure),
     * Shipping's answers, the customer's cancels and Payments' refund outcomes, each possibly
     * delivered more than once, in any order.
     */
    const deliveries = fc
      .record({
        payments: fc.subarray(['payment.failed', 'payment.succeeded'] as const),
        shipping: fc.subarray(['order.shipped', 'order.cancelled', 'shipping.failed'] as const),
        cancels: fc.nat({ max: 3 }),
        refunds: fc.subarray(['refund.failed', 'refund.succeeded'] as const),
        repeats: fc.nat({ max: 3 }),
      })
      .chain((m) => {
        const once: OrderEvent[] = [
          ...m.payments,
          ...m.shipping,
          ...Array<OrderEvent>(m.cancels).fill('customer.cancel'),
          ...m.refunds,
        ];
        const base = once.length ? once : (['customer.cancel'] as OrderEvent[]);
        return fc
          .array(fc.constantFrom(...base), { maxLength: m.repeats })
          .chain((dups) => fc.shuffledSubarray([...base, ...dups], { minLength: base.length }));
      });

    for (const [name, events] of [
      ['any events', anyEvents],
      ['realistic deliveries', deliveries],
    ] as const) {
      it(`when ${name} arrive, then a paid and finally cancelled order has asked for exactly one refund, and no other has asked for any`, () => {
        fc.assert(
          fc.property(events, (sequence) => {
            const { state, asked } = run(sequence);
            const owed = state.status === 'cancelled' && state.paymentReceived;
            expect(asked.refunds, JSON.stringify({ sequence, state })).to.equal(owed ? 1 : 0);
            expect(state.refund !== null).to.equal(owed);
          }),
          { numRuns: 2000 },
        );
      });

      it(`when ${name} arrive, then shipping and a cancellation are each asked at most once, and a final status never changes`, () => {
        fc.assert(
          fc.property(events, (sequence) => {
            const { asked, statuses } = run(sequence);
            expect(asked.shipping).to.be.at.most(1);
            expect(asked.cancellations).to.be.at.most(1);
            const firstFinal = statuses.findIndex((s) => s === 'shipped' || s === 'cancelled');
            if (firstFinal >= 0) {
              expect(new Set(statuses.slice(firstFinal)).size).to.equal(1);
            }
          }),
          { numRuns: 2000 },
        );
      });
    }

    it('when a payment success arrives after the failure that cancelled the order, then a refund is asked for, once', () => {
      const { state, asked } = run(['payment.failed', 'payment.succeeded', 'payment.succeeded']);
      expect(state).to.deep.include({ status: 'cancelled', refund: 'requested' });
      expect(asked.refunds).to.equal(1);
    });

    it('when a payment success arrives after the customer cancelled a new order, then a refund is asked for, once', () => {
      const { state, asked } = run([
        'customer.cancel',
        'payment.succeeded',
        'customer.cancel',
        'payment.succeeded',
      ]);
      expect(state).to.deep.include({ status: 'cancelled', refund: 'requested' });
      expect(asked.refunds).to.equal(1);
    });
  });
});
