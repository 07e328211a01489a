import { asc, eq } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db, Executor } from '../../db/client.js';
import { insertOutboxRows, type OutboxJobRef } from '../../db/outbox/rows.js';
import {
  inbox,
  orders,
  orderStatusHistory,
  outbox,
  type InboxRow,
  type OrderRow,
  type OutboxRow,
} from '../../db/schema.js';
import { outboxJobId } from '../../jobs/outbox/job-data.js';
import { inboxApply, type NewOutboxRow } from '../../db/outbox/events.js';
import type { ShardedQueues } from '../../jobs/outbox/queues.js';
import { createRelay } from '../../jobs/outbox/relay.js';
import { silentLogger } from '../../lib/platform/logger.js';

/** Test data factories: valid rows by default, any field overridable. */

export async function insertOrder(
  db: Executor,
  overrides: Partial<typeof orders.$inferInsert> = {},
): Promise<OrderRow> {
  const [row] = await db
    .insert(orders)
    .values({
      id: randomUUID(),
      userId: `user-${randomUUID().slice(0, 8)}`,
      itemId: randomUUID(),
      quantity: 2,
      unitPrice: '2.50',
      amount: '5.00',
      status: 'new',
      idempotencyKey: randomUUID(),
      requestHash: 'test',
      paymentIdempotencyKey: randomUUID(),
      ...overrides,
    })
    .returning();
  return row!;
}

export interface InboxEventInput {
  orderId: string;
  eventType: string;
  payload?: Record<string, unknown>;
  source?: string;
  messageKey?: string;
}

/** An inbox row and the `inbox` outbox row that asks for it to be applied, as intake writes them. */
export async function insertInboxEvent(
  db: Executor,
  input: InboxEventInput,
): Promise<{ inboxRow: InboxRow; outboxId: number; outboxRef: OutboxJobRef }> {
  const [inboxRow] = await db
    .insert(inbox)
    .values({
      source: input.source ?? 'payments',
      messageKey: input.messageKey ?? randomUUID(),
      orderId: input.orderId,
      eventType: input.eventType,
      payload: input.payload ?? { order_id: input.orderId },
    })
    .returning();
  const [outboxId] = await insertOutboxRows(db, [
    inboxApply(inboxRow!.id, input.orderId, input.eventType),
  ]);
  const [row] = await db
    .select({ id: outbox.id, jobId: outbox.jobId })
    .from(outbox)
    .where(eq(outbox.id, outboxId!));
  return { inboxRow: inboxRow!, outboxId: outboxId!, outboxRef: row! };
}

/** The BullMQ job id of outbox row `id` (derived from its job_id, see jobs/outbox/job-data.ts). */
export async function bullJobIdOfRow(db: Executor, id: number): Promise<string> {
  const [row] = await db.select({ jobId: outbox.jobId }).from(outbox).where(eq(outbox.id, id));
  if (!row) throw new Error(`no outbox row ${id}`);
  return outboxJobId(row.jobId);
}

/** Outbox row `id` as it is now; fails the test when there is none. */
export async function outboxRowById(db: Executor, id: number): Promise<OutboxRow> {
  const [row] = await db.select().from(outbox).where(eq(outbox.id, id));
  if (!row) throw new Error(`no outbox row ${id}`);
  return row;
}

/**
 * Commits outbox rows and relays them once, as the worker would, with no processor running:
 * their jobs wait in BullMQ. Returns the rows' ids.
 */
export async function commitAndRelay(
  database: { db: Db; url: string },
  queues: ShardedQueues,
  rows: NewOutboxRow[],
): Promise<number[]> {
  const ids = await database.db.transaction((tx) => insertOutboxRows(tx, rows));
  const relay = createRelay({
    db: database.db,
    databaseUrl: database.url,
    queues,
    logger: silentLogger(),
  });
  const { enqueued } = await relay.drainOnce();
  if (enqueued !== rows.length) throw new Error(`relayed ${enqueued} of ${rows.length} rows`);
  return ids;
}

/**
 * An order as a test looks at it after applying an event: the row, its status history and its
 * follow-up outbox rows (the inbox jobs that carried events left out), each in id order.
 */
export async function orderAfterEvents(db: Executor, orderId: string) {
  const [order] = await db.select().from(orders).where(eq(orders.id, orderId));
  const history = await db
    .select()
    .from(orderStatusHistory)
    .where(eq(orderStatusHistory.orderId, orderId))
    .orderBy(asc(orderStatusHistory.id));
  const followUps = await db
    .select()
    .from(outbox)
    .where(eq(outbox.orderId, orderId))
    .orderBy(asc(outbox.id));
  return { order: order!, history, followUps: followUps.filter((r) => r.queue !== 'inbox') };
}

export async function inboxRowById(db: Executor, id: number): Promise<InboxRow> {
  const [row] = await db.select().from(inbox).where(eq(inbox.id, id));
  return row!;
}
