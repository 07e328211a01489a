import { asc, eq, or, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { deadLetters, inbox, outbox, webhookDeliveries, type DeadLetterRow } from './schema.js';

/**
 * An order's rows for ops' journey view: its outbox and inbox rows, its dead letters, its webhook
 * deliveries.
 */
export interface JourneyOutboxRow {
  id: number;
  jobId: string;
  queue: string;
  eventType: string;
  createdAt: Date;
  dispatchedAt: Date | null;
  completedAt: Date | null;
  failedAt: Date | null;
  attempts: number;
  lastError: string | null;
  attemptErrors: { at: string; attempt: number; error: string }[];
}

export async function outboxRowsOfOrder(db: Db, orderId: string): Promise<JourneyOutboxRow[]> {
  return db
    .select({
      id: outbox.id,
      jobId: outbox.jobId,
      queue: outbox.queue,
      eventType: outbox.eventType,
      createdAt: outbox.createdAt,
      dispatchedAt: outbox.dispatchedAt,
      completedAt: outbox.completedAt,
      failedAt: outbox.failedAt,
      attempts: outbox.attempts,
      lastError: outbox.lastError,
      attemptErrors: outbox.attemptErrors,
    })
    .from(outbox)
    .where(eq(outbox.orderId, orderId))
    .orderBy(asc(outbox.id));
}

export async function inboxRowsOfOrder(db: Db, orderId: string) {
  return db
    .select({
      id: inbox.id,
      source: inbox.source,
      messageKey: inbox.messageKey,
      eventType: inbox.eventType,
      createdAt: inbox.createdAt,
      processedAt: inbox.processedAt,
      result: inbox.result,
    })
    .from(inbox)
    .where(eq(inbox.orderId, orderId))
    .orderBy(asc(inbox.id));
}

/**
 * Dead letters that name the order: keyed by it (Shipping keys by order id) or mentioning it in a
 * value that could not be parsed. Dead letters are few, so the scan is cheap.
 */
export async function deadLettersOfOrder(db: Db, orderId: string): Promise<DeadLetterRow[]> {
  return db
    .select()
    .from(deadLetters)
    .where(or(eq(deadLetters.key, orderId), sql`strpos(${deadLetters.value}, ${orderId}) > 0`))
    .orderBy(asc(deadLetters.id));
}

/** Every attempt to deliver one of the order's events to a subscriber, in the order made. */
export async function webhookDeliveriesOfOrder(db: Db, orderId: string) {
  return db
    .select({
      id: webhookDeliveries.id,
      subscriptionId: webhookDeliveries.subscriptionId,
      messageId: webhookDeliveries.messageId,
      eventType: webhookDeliveries.eventType,
      attempt: webhookDeliveries.attempt,
      outcome: webhookDeliveries.outcome,
      statusCode: webhookDeliveries.statusCode,
      latencyMs: webhookDeliveries.latencyMs,
      responseExcerpt: webhookDeliveries.responseExcerpt,
      error: webhookDeliveries.error,
      createdAt: webhookDeliveries.createdAt,
    })
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.orderId, orderId))
    .orderBy(asc(webhookDeliveries.id));
}
