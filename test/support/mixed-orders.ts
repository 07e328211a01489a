import { expect } from 'chai';
import { waitFor } from '../../scripts/testkit/wait.js';
import { KEYBOARD, orderBody, STICKER, type CreateOrderBody } from './factories.js';
import type { TestSystem } from './system.js';

/**
 * Orders whose fates differ by the development peers' rules: every seventh costs x.13 (19.99 ×
 * 87; Payments fails it), every fifth of the rest has quantity 13 (Shipping fails it, so it is
 * refunded), the others ship.
 */
export function mixedOrderBodies(n: number): CreateOrderBody[] {
  return Array.from({ length: n }, (_, i) =>
    i % 7 === 3
      ? orderBody({ item_id: KEYBOARD.id, quantity: 87 })
      : orderBody({ item_id: STICKER.id, quantity: i % 5 === 0 ? 13 : 1 + (i % 4) }),
  );
}

const paymentFails = (b: CreateOrderBody) => b.quantity === 87;
const shippingFails = (b: CreateOrderBody) => b.quantity === 13;

/**
 * Creates `n` mixed orders at once and checks each ends as its rules say, with one payment each,
 * one shipment for each paid one and one refund for each that Shipping failed.
 */
export async function createMixedOrders(
  sys: TestSystem,
  n: number,
): Promise<{ bodies: CreateOrderBody[]; ids: string[] }> {
  const bodies = mixedOrderBodies(n);
  const created = await Promise.all(bodies.map((b) => sys.request('POST', '/api/v1/orders', b)));
  expect(created.map((c) => c.status)).to.deep.equal(Array(n).fill(201));
  const ids = created.map((c) => c.body.data.id as string);

  const finals = await Promise.all(ids.map((id) => sys.until(id, ['shipped', 'cancelled'], 30000)));
  expect(finals.map((o) => o.status)).to.deep.equal(
    bodies.map((b) => (paymentFails(b) || shippingFails(b) ? 'cancelled' : 'shipped')),
  );
  const { payments, shipping } = sys.peers();
  for (const [i, id] of ids.entries()) {
    const body = bodies[i]!;
    expect(payments.recorded({ order_id: id }).payments, `payments for ${i}`).to.have.length(1);
    expect(shipping.recorded({ order_id: id }).shipments, `shipments for ${i}`).to.have.length(
      paymentFails(body) ? 0 : 1,
    );
  }
  // A refund is asked for after the cancellation is applied: wait for each, then count.
  await waitFor(
    () =>
      ids.every(
        (id, i) =>
          payments.recorded({ order_id: id }).refunds.length >= (shippingFails(bodies[i]!) ? 1 : 0),
      ),
    { what: 'the refunds', timeoutMs: 10000 },
  );
  for (const [i, id] of ids.entries()) {
    expect(payments.recorded({ order_id: id }).refunds, `refunds for ${i}`).to.have.length(
      shippingFails(bodies[i]!) ? 1 : 0,
    );
  }
  return { bodies, ids };
}

/** Waits until none of the orders' outbox rows is still open: each effect's row completed. */
export async function expectOutboxSettled(
  sys: TestSystem,
  ids: string[],
  timeoutMs = 10000,
): Promise<void> {
  // A row completes just after its peer answered: wait for that, then none may stay open.
  await waitFor(
    async () =>
      (
        await sys.db.pool.query(
          'select 1 from outbox where order_id = any($1) and completed_at is null',
          [ids],
        )
      ).rowCount === 0,
    { timeoutMs, what: 'no outbox row left pending' },
  );
}
