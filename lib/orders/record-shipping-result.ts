import type { Db } from '../../db/client.js';
import { insertDeadLetter, type MessagePosition } from '../../db/dead-letters.js';
import { recordInboundEvent } from './record-inbound-event.js';
import { findOrderById } from '../../db/orders.js';
import { parseShippingResponse } from '../kafka/parse-shipping-response.js';

export type RecordShippingOutcome =
  | { outcome: 'recorded'; orderId: string; inboxId: number }
  | { outcome: 'duplicate'; orderId: string; inboxId: number }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'dead_lettered'; reason: string };

type Applied =
  | Exclude<RecordShippingOutcome, { outcome: 'dead_lettered' }>
  | { outcome: 'rejected'; reason: string };

/** Records a shipping-response message if it is usable; says why not otherwise. Writes no dead letter. */
export async function recordShippingResponse(db: Db, value: string | null): Promise<Applied> {
  const verdict = parseShippingResponse(value);
  if (verdict.kind === 'skip') return { outcome: 'skipped', reason: verdict.reason };
  if (verdict.kind === 'dead-letter') return { outcome: 'rejected', reason: verdict.reason };
  const { result } = verdict;
  const known = await findOrderById(db, result.orderId);
  if (!known) return { outcome: 'rejected', reason: `unknown order ${result.orderId}` };
  const recorded = await recordInboundEvent(db, {
    source: 'shipping',
    messageKey: result.messageKey,
    orderId: result.orderId,
    eventType: result.eventType,
    payload: result.payload,
  });
  return {
    outcome: recorded.duplicate ? 'duplicate' : 'recorded',
    orderId: result.orderId,
    inboxId: recorded.inboxId,
  };
}

/**
 * Takes one shipping-response message in (ARCHITECTURE.md, "The path of an order"): a valid
 * result for a known order becomes an inbox row and its `inbox` outbox row in one transaction;
 * anything unusable is kept as a dead letter with the reason. Database errors propagate: the caller must not commit the
 * offset then.
 */
export async function recordShippingResult(
  db: Db,
  position: MessagePosition,
  value: string | null,
): Promise<RecordShippingOutcome> {
  const applied = await recordShippingResponse(db, value);
  if (applied.outcome !== 'rejected') return applied;
  return keepAsDeadLetter(db, position, value, applied.reason);
}

/**
 * Keeps a message that cannot be taken in, with the reason, for ops to replay after a fix
 * (replay-dead-letter.ts); a redelivery of the same position is a no-op.
 */
export async function keepAsDeadLetter(
  db: Db,
  position: MessagePosition,
  value: string | null,
  reason: string,
): Promise<RecordShippingOutcome> {
  await insertDeadLetter(db, { ...position, value, reason });
  return { outcome: 'dead_lettered', reason };
}
