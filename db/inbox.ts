import { and, eq, sql } from 'drizzle-orm';
import type { InboundEvent } from '../lib/domain/inbound-event.js';
import type { Executor } from './client.js';
import { deleteOlderThan, type AgeLimits } from './delete-old.js';
import { inbox, type InboxRow } from './schema.js';

/** Inserts the event's inbox row; undefined when (source, messageKey) is already there. */
export async function insertInboxRow(
  tx: Executor,
  event: InboundEvent,
): Promise<number | undefined> {
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
  return inserted?.id;
}

export async function findInboxRowId(
  tx: Executor,
  source: string,
  messageKey: string,
): Promise<number | undefined> {
  const [row] = await tx
    .select({ id: inbox.id })
    .from(inbox)
    .where(and(eq(inbox.source, source), eq(inbox.messageKey, messageKey)));
  return row?.id;
}

/**
 * Loads an inbox row locked FOR UPDATE until the transaction ends: two jobs applying the same
 * row run one after the other, and the second sees it processed.
 */
export async function lockInboxRow(tx: Executor, id: number): Promise<InboxRow | undefined> {
  const [row] = await tx.select().from(inbox).where(eq(inbox.id, id)).for('update');
  return row;
}

/** result: 'applied', or why the event was not applied (the state machine's reason). */
export async function markInboxProcessed(tx: Executor, id: number, result: string): Promise<void> {
  await tx
    .update(inbox)
    .set({ processedAt: sql`now()`, result })
    .where(eq(inbox.id, id));
}

/**
 * Deletes up to `limit` processed rows older than `olderThanHours`; returns how many. Unprocessed
 * rows are never deleted. Dropping an old row also drops its deduplication key: a redelivery of a
 * message older than the retention age would be taken in again and then refused by the state
 * machine as a duplicate, so no order changes twice.
 */
export async function deleteProcessedInbox(ex: Executor, limits: AgeLimits): Promise<number> {
  return deleteOlderThan(ex, inbox, { id: inbox.id, at: inbox.processedAt }, limits);
}
