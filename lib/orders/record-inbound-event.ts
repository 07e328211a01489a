import type { Db } from '../../db/client.js';
import { findInboxRowId, insertInboxRowWithJob } from '../../db/inbox.js';
import { findOrderTraceparent } from '../../db/orders.js';
import { withinOrderTrace } from '../platform/trace-context.js';
import type { InboundEvent } from '../domain/inbound-event.js';
import { inboxApply } from '../../db/outbox/events.js';

export type { InboundEvent } from '../domain/inbound-event.js';

export interface RecordedInbound {
  /** The inbox row: the new one, or on a repeat the one the first delivery wrote. */
  inboxId: number;
  /** True when (source, messageKey) was already taken in: nothing was written this time. */
  duplicate: boolean;
}

/**
 * Takes an inbound event in: its inbox row and, only when that row is new, the `inbox` outbox row
 * that gets it applied, in one statement (one transaction, one round trip; it also NOTIFYs the
 * relay). A repeat of (source, messageKey) writes nothing. When two deliveries race, Postgres
 * makes the second insert wait for the first, so exactly one of them writes.
 */
export async function recordInboundEvent(db: Db, event: InboundEvent): Promise<RecordedInbound> {
  // The sender may not have passed the order's trace context on (Payments calls back on its own,
  // Shipping answers over Kafka): the event joins the order's trace, so the inbox job continues it.
  return withinOrderTrace(
    `inbox.record ${event.source}`,
    () => findOrderTraceparent(db, event.orderId),
    () => record(db, event),
  );
}

async function record(db: Db, event: InboundEvent): Promise<RecordedInbound> {
  // One statement writes both rows; the job's inbox_id is filled in with the new row's id.
  const job = inboxApply(0, event.orderId, event.eventType);
  const inserted = await insertInboxRowWithJob(db, event, job);
  if (inserted !== undefined) return { inboxId: inserted, duplicate: false };
  const existing = await findInboxRowId(db, event.source, event.messageKey);
  // Retention deletes only processed rows, and only long after they were written; a conflict
  // with no row to show for it means something else deletes inbox rows.
  if (existing === undefined) {
    throw new Error(
      `inbox row ${event.source}/${event.messageKey} conflicted on insert but cannot be found`,
    );
  }
  return { inboxId: existing, duplicate: true };
}
