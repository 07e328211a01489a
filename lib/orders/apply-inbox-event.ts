import type { Db, Tx } from '../../db/client.js';
import { lockInboxRow, markInboxProcessed } from '../../db/inbox.js';
import { lockOrder, setOrderStatus } from '../../db/order-transitions.js';
import { insertOutboxRows, markOutboxCompleted, type OutboxJobRef } from '../../db/outbox.js';
import type { InboxRow, OrderRow } from '../../db/schema.js';
import { isOrderEvent, isOrderStatus, transition, type Accepted } from '../domain/order-state.js';
import { notification, shippingRequested, type NewOutboxRow } from '../domain/outbox-events.js';

/**
 * Applies one inbound event (a payment result, a shipping response) to its order, in one
 * transaction: the state machine decides, the status and its history row change, the follow-up
 * outbox rows are written, and the inbox row is marked processed. The outbox row of the `inbox`
 * job that asked for this is completed in the same transaction, so applying is exactly-once even
 * when the job runs twice.
 */
export interface ApplyInboxEventInput {
  inboxId: number;
  /** The `inbox` queue's outbox row to complete with the change (only if it is that job's row). */
  outbox?: OutboxJobRef;
}

export type ApplyInboxEventResult =
  | { outcome: 'applied'; orderId: string; from: string; to: string; outboxIds: number[] }
  | { outcome: 'refused'; orderId: string; kind: 'duplicate' | 'conflict'; reason: string }
  | { outcome: 'already-processed'; orderId: string; result: string | null }
  | { outcome: 'missing' };

export async function applyInboxEvent(
  db: Db,
  { inboxId, outbox }: ApplyInboxEventInput,
): Promise<ApplyInboxEventResult> {
  return db.transaction(async (tx) => {
    const result = await decideAndApply(tx, inboxId);
    if (outbox !== undefined) await markOutboxCompleted(tx, outbox);
    return result;
  });
}

async function decideAndApply(tx: Tx, inboxId: number): Promise<ApplyInboxEventResult> {
  const event = await lockInboxRow(tx, inboxId);
  if (!event) return { outcome: 'missing' };
  if (event.processedAt) {
    return { outcome: 'already-processed', orderId: event.orderId, result: event.result };
  }
  if (!isOrderEvent(event.eventType)) {
    return refuse(tx, event, 'conflict', `unknown event type ${event.eventType}`);
  }
  const order = await lockOrder(tx, event.orderId);
  if (!order) return refuse(tx, event, 'conflict', `order ${event.orderId} not found`);
  if (!isOrderStatus(order.status)) {
    return refuse(tx, event, 'conflict', `order has unknown status ${order.status}`);
  }
  const decision = transition(order.status, event.eventType);
  if (!decision.ok) return refuse(tx, event, decision.kind, decision.reason);

  await setOrderStatus(tx, {
    orderId: order.id,
    status: decision.to,
    reason: decision.reason,
    shipmentId: shipmentIdOf(event.payload),
  });
  const outboxIds = await insertOutboxRows(tx, followUpRows(order, decision));
  await markInboxProcessed(tx, event.id, 'applied');
  return { outcome: 'applied', orderId: order.id, from: order.status, to: decision.to, outboxIds };
}

async function refuse(
  tx: Tx,
  event: InboxRow,
  kind: 'duplicate' | 'conflict',
  reason: string,
): Promise<ApplyInboxEventResult> {
  await markInboxProcessed(tx, event.id, reason);
  return { outcome: 'refused', orderId: event.orderId, kind, reason };
}

function followUpRows(order: OrderRow, decision: Accepted): NewOutboxRow[] {
  const { notify, requestShipping } = decision.followUps;
  const rows = [notification(order, notify.event, notify.message)];
  if (requestShipping) rows.push(shippingRequested(order));
  return rows;
}

/** Shipping responses carry shipment_id; a number is accepted as its text. */
function shipmentIdOf(payload: unknown): string | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const id = (payload as Record<string, unknown>).shipment_id;
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
}
