import type { Db, Executor } from '../../db/client.js';
import {
  markInboxProcessed,
  markInboxProcessedAndJobCompleted,
  withInboxEventLocked,
  type LockedInboxEvent,
} from '../../db/inbox.js';
import {
  isOpenRowOf,
  markOutboxCompleted,
  type OutboxJobRef,
  type OutboxState,
} from '../../db/outbox/rows.js';
import type { InboxRow } from '../../db/schema.js';
import {
  describeState,
  isOrderEvent,
  isOrderStatus,
  orderStateOf,
  transition,
} from '../domain/order-state.js';
import { applyTransition, type EventFacts } from './apply-transition.js';
import { PAYMENTS_SOURCE } from './record-payment-result.js';

/**
 * Applies one inbound event (a payment result, a refund outcome, a shipping response) to its
 * order, in one transaction: the state machine decides, the state and its history row change, the
 * follow-up outbox rows are written, and the inbox row is marked processed. The outbox row of the
 * `inbox` job that asked for this is completed in the same transaction, so applying is
 * exactly-once even when the job runs twice. An applied event costs three round trips: BEGIN with
 * the locks (and the job's row), the transition with every mark, COMMIT.
 */
export interface ApplyInboxEventInput {
  inboxId: number;
  /**
   * The `inbox` queue's outbox row of the job applying the event. Read in the round trip that
   * takes the locks: unless it is an open row of that job, nothing is applied or written
   * (`job-row-not-open`); else it is completed with the change.
   */
  outbox?: OutboxJobRef;
}

export type ApplyInboxEventResult =
  | { outcome: 'applied'; orderId: string; from: string; to: string; outboxIds: number[] }
  | { outcome: 'refused'; orderId: string; kind: 'duplicate' | 'conflict'; reason: string }
  | { outcome: 'already-processed'; orderId: string; result: string | null }
  | { outcome: 'missing' }
  /** The job's row is gone, completed, or another job's: as read, undefined when gone. */
  | { outcome: 'job-row-not-open'; jobRow: OutboxState | undefined };

export async function applyInboxEvent(
  db: Db,
  { inboxId, outbox }: ApplyInboxEventInput,
): Promise<ApplyInboxEventResult> {
  return withInboxEventLocked(db, { inboxId, jobRowId: outbox?.id }, async (locked, tx) => {
    if (outbox && !isOpenRowOf(outbox, locked.jobRow)) {
      return { outcome: 'job-row-not-open', jobRow: locked.jobRow };
    }
    const { result, processed } = await decideAndApply(tx, locked, outbox);
    // An applied event's transition statement marked the inbox row and the job's row itself.
    if (result.outcome === 'applied') return result;
    // The inbox row's outcome and the job's completion: one statement when there are both.
    if (processed && outbox) {
      await markInboxProcessedAndJobCompleted(tx, processed.id, processed.result, outbox);
    } else if (processed) {
      await markInboxProcessed(tx, processed.id, processed.result);
    } else if (outbox) {
      await markOutboxCompleted(tx, outbox);
    }
    return result;
  });
}

/**
 * What applying decided, and the outcome to mark the inbox row processed with (none: leave it, or
 * already marked by the transition's statement).
 */
interface Decided {
  result: ApplyInboxEventResult;
  processed?: { id: number; result: string };
}

async function decideAndApply(
  tx: Executor,
  { event, order }: LockedInboxEvent,
  job: OutboxJobRef | undefined,
): Promise<Decided> {
  if (!event) return { result: { outcome: 'missing' } };
  if (event.processedAt) {
    return {
      result: { outcome: 'already-processed', orderId: event.orderId, result: event.result },
    };
  }
  if (!isOrderEvent(event.eventType)) {
    return refuse(event, 'conflict', `unknown event type ${event.eventType}`);
  }
  if (!order) return refuse(event, 'conflict', `order ${event.orderId} not found`);
  if (!isOrderStatus(order.status)) {
    return refuse(event, 'conflict', `order has unknown status ${order.status}`);
  }
  const decision = transition(orderStateOf(order), event.eventType);
  if (!decision.ok) return refuse(event, decision.kind, decision.reason);

  const outboxIds = await applyTransition(tx, order, decision, factsOf(event), {
    inboxId: event.id,
    result: 'applied',
    job,
  });
  return {
    result: {
      outcome: 'applied',
      orderId: order.id,
      from: describeState(decision.from),
      to: describeState(decision.to),
      outboxIds,
    },
  };
}

function refuse(event: InboxRow, kind: 'duplicate' | 'conflict', reason: string): Decided {
  return {
    result: { outcome: 'refused', orderId: event.orderId, kind, reason },
    processed: { id: event.id, result: reason },
  };
}

/** Shipping responses carry shipment_id (a number is accepted as its text); payments, id. */
function factsOf(event: InboxRow): EventFacts {
  const payload = event.payload;
  if (payload === null || typeof payload !== 'object') return {};
  const { shipment_id: shipment, id } = payload as Record<string, unknown>;
  const text = (v: unknown) =>
    typeof v === 'string' && v.length > 0
      ? v
      : typeof v === 'number' && Number.isFinite(v)
        ? String(v)
        : undefined;
  return {
    shipmentId: text(shipment),
    // Only a payment callback's id is a payment id; a shipping message's fields are not.
    paymentId: event.source === PAYMENTS_SOURCE ? text(id) : undefined,
  };
}
