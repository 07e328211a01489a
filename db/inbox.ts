import { and, eq } from 'drizzle-orm';
import type { InboundEvent } from '../lib/domain/inbound-event.js';
import { OUTBOX_CHANNEL, type NewOutboxRow } from './outbox/events.js';
import {
  getOutboxState,
  outboxCompletedText,
  outboxParams,
  outboxRowsFrom,
  outboxStateColumns,
  outboxStateOf,
  type OutboxJobRef,
  type OutboxState,
} from './outbox/rows.js';
import { transactionOpenedWith, type Db, type Executor } from './client.js';
import { deleteOlderThan, type AgeLimits } from './delete-old.js';
import { inbox, orders, type InboxRow, type OrderRow } from './schema.js';
import { run, statement, tableRows } from './statement.js';

/**
 * Inserts the event's inbox row and, only when it is new, the outbox row of the job that applies
 * it, with `payload.inbox_id` set to the new row's id, and signals the relay: one statement, so
 * one round trip and one transaction (the intake of every payment callback and shipping
 * response). Undefined when (source, messageKey) is already there: nothing is written then.
 */
export async function insertInboxRowWithJob(
  ex: Executor,
  event: InboundEvent,
  job: NewOutboxRow,
): Promise<number | undefined> {
  const [inserted] = await run(ex, inboxInserted, [
    event.source,
    event.messageKey,
    event.orderId,
    event.eventType,
    // As JSON text: node-postgres would send an array as a Postgres array.
    JSON.stringify(event.payload),
    ...outboxParams([job]),
    OUTBOX_CHANNEL,
  ]);
  return inserted && Number(inserted.id);
}

const inboxInserted = statement<{ id: number }>(
  'inbox_insert_with_job',
  `with i as (
     insert into inbox (source, message_key, order_id, event_type, payload)
     values ($1, $2, $3, $4, $5::jsonb)
     on conflict (source, message_key) do nothing
     returning id
   ), ob as (
     insert into outbox (queue, event_type, order_id, idempotency_key, payload, traceparent)
     select v.queue, v.event_type, v.order_id, v.idempotency_key,
            v.payload || jsonb_build_object('inbox_id', i.id), $6::text
     from i, ${outboxRowsFrom('$7')}
   )
   select i.id, pg_notify($8, '') from i`,
);

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

const inboxRows = tableRows(inbox);

const inboxLocked = statement<Record<string, unknown>>(
  'inbox_lock',
  `select ${inboxRows.columns} from inbox where id = $1 for update`,
);

/**
 * Loads an inbox row locked FOR UPDATE until the transaction ends: two jobs applying the same
 * row run one after the other, and the second sees it processed.
 */
export async function lockInboxRow(tx: Executor, id: number): Promise<InboxRow | undefined> {
  const [row] = await run(tx, inboxLocked, [id]);
  return row && inboxRows.map(row);
}

const joined = {
  event: tableRows(inbox, { alias: 'i', prefix: 'i_' }),
  order: tableRows(orders, { alias: 'o', prefix: 'o_' }),
};

/** What withInboxEventLocked found: no event (no such row), or the event and maybe its order. */
export interface LockedInboxEvent {
  event?: InboxRow;
  /** Undefined when the event names an order that does not exist. */
  order?: OrderRow;
  /**
   * With `jobRowId`: that outbox row's state as this transaction first read it (not locked);
   * undefined when the row is gone.
   */
  jobRow?: OutboxState;
}

export interface InboxEventTarget {
  inboxId: number;
  /**
   * The outbox row of the job applying the event: its state is read in the same round trip, so
   * the job learns whether it still has work without a read of its own.
   */
  jobRowId?: number;
}

/**
 * Runs `work` in a transaction that opens with the inbox row and its order locked FOR UPDATE, in
 * one round trip with its BEGIN (and with the state of the job's outbox row, when given). It
 * commits when `work` resolves and rolls back when it throws. Locks are taken inbox row first,
 * then order: two events of one order apply one at a time.
 */
export async function withInboxEventLocked<T>(
  db: Db,
  { inboxId, jobRowId }: InboxEventTarget,
  work: (locked: LockedInboxEvent, tx: Executor) => Promise<T>,
): Promise<T> {
  // Inlined, not bound (BEGIN and the lock travel as one simple query): integers, checked here.
  for (const id of [inboxId, jobRowId]) {
    if (id !== undefined && !Number.isSafeInteger(id)) throw new Error(`bad row id ${id}`);
  }
  const withJob = jobRowId !== undefined;
  // The job's row is joined, not locked (an outer join's side cannot be). Two runs of one job are
  // ordered by the inbox row's lock and its processed_at; a row's job id never changes; so a
  // run that reads the row open just before another run completes it finds the event processed.
  const text = `select ${joined.event.columns}, ${joined.order.columns}
    ${withJob ? `, ${outboxStateColumns('ob', 'ob_')}` : ''}
    from inbox i join orders o on o.id = i.order_id
    ${withJob ? `left join outbox ob on ob.id = ${jobRowId}` : ''}
    where i.id = ${inboxId}
    for update of i, o`;
  return transactionOpenedWith<Record<string, unknown>, T>(db, text, async ([row], tx) => {
    if (row) {
      const event = joined.event.map(row);
      const order = joined.order.map(row);
      return work({ event, order, jobRow: withJob ? outboxStateOf(row, 'ob_') : undefined }, tx);
    }
    // No such inbox row, or its order is missing (rare): the job's row, then the inbox row alone.
    const jobRow = withJob ? await getOutboxState(tx, jobRowId) : undefined;
    return work({ event: await lockInboxRow(tx, inboxId), jobRow }, tx);
  });
}

/**
 * Marking an inbox row processed, as SQL text for a statement: `id` and `result` name its
 * parameters. result: 'applied', or why the event was not applied (the state machine's reason).
 */
export function inboxProcessedText(id: string, result: string): string {
  return `update inbox set processed_at = now(), result = ${result} where id = ${id}`;
}

const inboxProcessed = statement('inbox_processed', inboxProcessedText('$1', '$2'));

/** result: 'applied', or why the event was not applied (the state machine's reason). */
export async function markInboxProcessed(tx: Executor, id: number, result: string): Promise<void> {
  await run(tx, inboxProcessed, [id, result]);
}

const inboxProcessedJobCompleted = statement<{ id: number }>(
  'inbox_processed_job_completed',
  `with i as (${inboxProcessedText('$1', '$2')})
   ${outboxCompletedText('$3', '$4')}`,
);

/**
 * markInboxProcessed and markOutboxCompleted (of the job that ran it) in one statement: the last
 * step of an inbound event refused (an applied one is marked by its transition's statement,
 * db/order-transitions.ts). False when the job's row was completed already.
 */
export async function markInboxProcessedAndJobCompleted(
  tx: Executor,
  id: number,
  result: string,
  job: OutboxJobRef,
): Promise<boolean> {
  const done = await run(tx, inboxProcessedJobCompleted, [id, result, job.id, job.jobId]);
  return done.length > 0;
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
