import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Db } from '../../db/client.js';
import { findOrderByIdempotencyKey, insertNewOrder } from '../../db/orders.js';
import { createdWebhook } from './order-webhooks.js';
import type { OrderRow } from '../../db/schema.js';
import type { Catalog } from '../peers/catalog.js';
import { ConflictError, OutOfStockError } from '../domain/errors.js';
import { effectKey } from '../domain/effect-keys.js';
import { multiplyMoney } from '../domain/money.js';
import { notification, paymentRequested } from '../../db/outbox/events.js';

export interface CreateOrderInput {
  itemId: string;
  quantity: number;
  userId: string;
  idempotencyKey: string;
}

export interface CreateOrderResult {
  order: OrderRow;
  /** False when the idempotency key had already created this order (a replay). */
  created: boolean;
}

export interface CreateOrderDeps {
  db: Db;
  catalog: Catalog;
}

/** Identifies the request's content, so a replay can be told from a different body under one key. */
export function requestHash(input: CreateOrderInput): string {
  const canonical = JSON.stringify([input.itemId.toLowerCase(), input.quantity, input.userId]);
  return createHash('sha256').update(canonical).digest('hex');
}

function replayOf(existing: OrderRow, hash: string): CreateOrderResult {
  if (existing.requestHash !== hash) {
    throw new ConflictError(
      'idempotency_key was already used for a different order request',
      'idempotency_key',
    );
  }
  return { order: existing, created: false };
}

/**
 * Creating an order (ARCHITECTURE.md, "The path of an order"). A replay is answered from the
 * stored order before Catalog is asked, so a client retrying a created order gets it even while
 * Catalog is down.
 */
export async function createOrder(
  deps: CreateOrderDeps,
  input: CreateOrderInput,
): Promise<CreateOrderResult> {
  const hash = requestHash(input);
  const existing = await findOrderByIdempotencyKey(deps.db, input.idempotencyKey);
  if (existing) return replayOf(existing, hash);

  const item = await deps.catalog.getItem(input.itemId);
  if (item.availableQty < input.quantity) {
    throw new OutOfStockError(input.itemId, input.quantity, item.availableQty);
  }

  const id = uuidv7();
  const order = {
    id,
    userId: input.userId,
    itemId: input.itemId,
    quantity: input.quantity,
    unitPrice: item.price,
    amount: multiplyMoney(item.price, input.quantity),
    idempotencyKey: input.idempotencyKey,
    requestHash: hash,
    // Stored on the order: the callback must echo it, and the order's rows are re-sent with it.
    paymentIdempotencyKey: effectKey(id, 'payment'),
  };
  const inserted = await insertNewOrder(deps.db, order, 'order created', [
    paymentRequested(order),
    notification(
      order,
      'order.created',
      `Order ${order.id} for ${order.quantity} × ${item.name} created: ${order.amount}`,
    ),
    createdWebhook(order),
  ]);
  if (inserted) return { order: inserted, created: true };

  // Lost a race with a concurrent request carrying the same key: that one's order is the answer.
  const winner = await findOrderByIdempotencyKey(deps.db, input.idempotencyKey);
  if (!winner)
    throw new Error(`order for idempotency key ${input.idempotencyKey} vanished after a conflict`);
  return replayOf(winner, hash);
}
