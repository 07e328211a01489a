import { and, eq } from 'drizzle-orm';
import { inboxApply } from '../lib/outbox-events.js';
import type { Db } from './client.js';
import { insertOutboxRows } from './outbox.js';
import { inbox } from './schema.js';

/** An event from outside (a payment callback, a shipping response) to be applied to one order. */
export interface InboundEvent {
  /** Who sent it: `payments`, `shipping`. With messageKey, what makes a repeat recognisable. */
  source: string;
  /** Stable across the sender's redeliveries of the same message. */
  messageKey: string;
  orderId: string;
  /** The state machine's event name (`payment.succeeded`, `order.shipped`, ...). */
  eventType: string;
  /** The message as received, kept for the inbox processor and for ops. */
  payload: Record<string, unknown>;
}

export interface RecordedInbound {
  /** The inbox row: the new one, or on a repeat the one the first delivery wrote. */
  inboxId: number;
  /** True when (source, messageKey) was already taken in: nothing was written this time. */
  duplicate: boolean;
}

/**
 * Takes an inbound event in: its inbox row and, only when that row is new, the `inbox` outbox row
 * that gets it applied, in one transaction (the outbox insert also NOTIFYs the relay). A repeat of
 * (source, messageKey) writes nothing. When two deliveries race, Postgres makes the second insert
 * wait for the first transaction, so exactly one of them writes.
 */
export async function recordInboundEvent(db: Db, event: InboundEvent): Promise<RecordedInbound> {
  return db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(inbox)
      .values({
        source: event.source,
        messageKey: event.messageKey,
        orderId: event.orderId,
        eventType: event.eventType,
        payload: event.payload,
      })
      .onConflictDoNothing({ target: [inbox.source, inbox.messageKey] })
      .returning({ id: inbox.id });
    if (inserted) {
      await insertOutboxRows(tx, [inboxApply(inserted.id, event.orderId, event.eventType)]);
      return { inboxId: inserted.id, duplicate: false };
    }
    const [existing] = await tx
      .select({ id: inbox.id })
      .from(inbox)
      .where(and(eq(inbox.source, event.source), eq(inbox.messageKey, event.messageKey)));
    // Retention deletes only processed rows, and only long after they were written; a conflict
    // with no row to show for it means something else deletes inbox rows.
    if (!existing) {
      throw new Error(
        `inbox row ${event.source}/${event.messageKey} conflicted on insert but cannot be found`,
      );
    }
    return { inboxId: existing.id, duplicate: true };
  });
}
