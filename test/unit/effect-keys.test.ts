import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { validate, version } from 'uuid';
import { EFFECT_KEY_NAMESPACE, effectKey, type EffectStep } from '../../lib/domain/effect-keys.js';
import {
  NEW_ORDER,
  ORDER_EVENTS,
  transition,
  type OrderState,
} from '../../lib/domain/order-state.js';
import { cancellationRequested, notification, shippingRequested } from '../../db/outbox/events.js';

/** Every step any order can take an effect for, as the state machine's paths ask for them. */
function everyStep(): EffectStep[] {
  const steps = new Set(stepsAlongEveryPath().flat());
  // Each is 'payment', 'refund', 'shipping', 'cancellation' or notify:<event> (built below).
  return [...steps] as EffectStep[];
}

/**
 * The effect steps of every path an order can take through the state machine, from `new` until
 * no event moves it any more: each path as the list of steps its transitions asked for.
 */
function stepsAlongEveryPath(): string[][] {
  const paths: string[][] = [];
  const walk = (state: OrderState, steps: string[], depth: number) => {
    // The machine only moves forward; a path longer than this would mean a cycle.
    if (depth > 20) throw new Error(`path too long: ${steps.join(' > ')}`);
    let moved = false;
    for (const event of ORDER_EVENTS) {
      const t = transition(state, event);
      if (!t.ok) continue;
      moved = true;
      const asked = [
        `notify:${t.followUps.notify.event}`,
        ...(t.followUps.requestShipping ? ['shipping'] : []),
        ...(t.followUps.requestCancellation ? ['cancellation'] : []),
        ...(t.followUps.requestRefund ? ['refund'] : []),
      ];
      walk(t.to, [...steps, ...asked], depth + 1);
    }
    if (!moved) paths.push(steps);
  };
  walk(NEW_ORDER, ['payment', 'notify:order.created'], 0);
  return paths;
}

describe('effect idempotency keys', () => {
  it('when the same order and step are given twice, then the key is the same, a UUIDv5 in the namespace documented', () => {
    const orderId = randomUUID();

    const first = effectKey(orderId, 'shipping');
    const again = effectKey(orderId, 'shipping');

    expect(again).to.equal(first);
    expect(validate(first)).to.equal(true);
    expect(version(first)).to.equal(5);
    // Computed independently (Python's uuid.uuid5): a change of namespace or of the name's form
    // would re-key every effect re-created after it.
    expect(effectKey('0190d2a4-0000-7000-8000-000000000001', 'payment')).to.equal(
      '001e5834-eacb-5f1b-96f4-0fd61e509541',
    );
    expect(EFFECT_KEY_NAMESPACE).to.equal('4e74976c-7f09-4ca2-bc3c-15cb01e6e4e5');
  });

  it('when the order id comes in upper case, then the key is the one of its lower-case form', () => {
    const orderId = randomUUID();

    expect(effectKey(orderId.toUpperCase(), 'refund')).to.equal(effectKey(orderId, 'refund'));
  });

  it('when the steps of one order differ, then their keys all differ', () => {
    const orderId = randomUUID();
    const steps = everyStep();

    const keys = steps.map((step) => effectKey(orderId, step));

    expect(steps).to.include.members([
      'payment',
      'refund',
      'shipping',
      'cancellation',
      'notify:order.created',
      'notify:order.paid',
      'notify:order.refunded',
    ]);
    expect(new Set(keys).size).to.equal(steps.length);
  });

  it('when the orders differ, then the same step has different keys', () => {
    const orders = Array.from({ length: 50 }, () => randomUUID());

    for (const step of everyStep()) {
      const keys = orders.map((id) => effectKey(id, step));
      expect(new Set(keys).size, step).to.equal(orders.length);
    }
  });

  it('when an order takes any path through the state machine, then no step repeats, so order and step name one effect', () => {
    const paths = stepsAlongEveryPath();

    expect(paths.length).to.be.greaterThan(5);
    for (const steps of paths) {
      expect(new Set(steps).size, steps.join(' > ')).to.equal(steps.length);
    }
  });

  it('when the outbox rows of an order are built twice, then they carry the same derived keys, in the row and in the payload', () => {
    const order = { id: randomUUID(), userId: 'u-1', itemId: randomUUID(), quantity: 2 };

    const build = () => [
      notification(order, 'order.paid', 'paid'),
      shippingRequested(order),
      cancellationRequested(order),
    ];
    const [first, again] = [build(), build()];

    expect(again.map((r) => r.idempotencyKey)).to.deep.equal(first.map((r) => r.idempotencyKey));
    expect(first.map((r) => r.idempotencyKey)).to.deep.equal([
      effectKey(order.id, 'notify:order.paid'),
      effectKey(order.id, 'shipping'),
      effectKey(order.id, 'cancellation'),
    ]);
    expect(first[1]!.payload.idempotency_key).to.equal(first[1]!.idempotencyKey);
    expect(first[2]!.payload.idempotency_key).to.equal(first[2]!.idempotencyKey);
    expect(notification(order, 'order.shipped', 'shipped').idempotencyKey).to.not.equal(
      first[0]!.idempotencyKey,
    );
  });
});
