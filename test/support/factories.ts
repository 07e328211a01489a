import { randomUUID } from 'node:crypto';
import type { CreateOrderRequest } from '../../api/schemas.js';
import type { OrderFacts } from '../../db/outbox/events.js';
import { DEMO_ITEMS } from '../../scripts/peers/catalog.js';

export const COFFEE_MUG = DEMO_ITEMS[0]!; // 12.50
export const STICKER = DEMO_ITEMS[1]!; // 0.10, plenty of stock
export const LIMITED = DEMO_ITEMS[2]!; // 2 in stock
export const KEYBOARD = DEMO_ITEMS[3]!; // 19.99, a million in stock

/** The API's own request type, so a field the API adds shows up here as a compile error. */
export type CreateOrderBody = CreateOrderRequest;

/** A valid create-order body; override what the test is about. */
export function orderBody(overrides: Partial<CreateOrderBody> = {}): CreateOrderBody {
  return {
    item_id: STICKER.id,
    quantity: 1,
    user_id: `user-${randomUUID().slice(0, 8)}`,
    idempotency_key: randomUUID(),
    ...overrides,
  };
}

/** An order's facts as the outbox builders take them (paymentRequested, notification, …). */
export function orderFacts(overrides: Partial<OrderFacts> = {}): OrderFacts {
  return {
    id: randomUUID(),
    userId: `user-${randomUUID().slice(0, 6)}`,
    itemId: randomUUID(),
    quantity: 1,
    amount: '5.00',
    paymentIdempotencyKey: randomUUID(),
    ...overrides,
  };
}
