import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { OUTBOX_CHANNEL, type NewOutboxRow } from '../lib/domain/outbox-events.js';
import { currentTraceparent } from '../lib/platform/trace-context.js';
import type { Executor } from './client.js';
import { deleteOlderThan, type AgeLimits } from './delete-old.js';
import { outbox } from './schema.js';

/**
 * The one INSERT of outbox rows, for use inside a statement: rows travel as one JSON parameter, so
 * any number of them is one round trip. With `onlyIf` (a query), nothing is inserted unless it
 * returns a row: intake inserts its rows only when its order insert did. Each row keeps the
 * writer's trace context (null when tracing is off), so its job continues the same trace.
 */
export function outboxInsert(rows: NewOutboxRow[], onlyIf?: SQL): SQL {
  const traceparent = currentTraceparent();
  const values = JSON.stringify(
    rows.map((r) => ({
      queue: r.queue,
      event_type: r.eventType,
      order_id: r.orderId,
      idempotency_key: r.idempotencyKey,
      payload: r.payload,
    })),
  );
  return sql`
    insert into outbox (queue, event_type, order_id, idempotency_key, payload, traceparent)
    select v.queue, v.event_type, v.order_id, v.idempotency_key, v.payload, ${traceparent}::text
    from jsonb_to_recordset(${values}::jsonb)
      as v(queue text, event_type text, order_id uuid, idempotency_key uuid, payload jsonb)
    ${onlyIf ? sql`where exists (${onlyIf})` : sql``}
    returning id`;
}

/**
 * Inserts outbox rows and signals the relay, in one statement (one round trip: this runs in every
 * applied event). The NOTIFY is delivered only if the transaction commits.
 */
export async function insertOutboxRows(tx: Executor, rows: NewOutboxRow[]): Promise<number[]> {
  if (rows.length === 0) return [];
  const result = await tx.execute<{ id: number | string }>(sql`
    with ins as (${outboxInsert(rows)}),
    wake as (select pg_notify(${OUTBOX_CHANNEL}, ''))
    select ins.id from ins, wake`);
  // Raw rows: ids may come back as text; callers get them in insertion (id) order.
  return result.rows.map((r) => Number(r.id)).sort((x, y) => x - y);
}

export interface OutboxState {
  /** The row's job identity: a job acts on this row only if its data carries the same. */
  jobId: string;
  completed: boolean;
  failed: boolean;
}

/** undefined when the row is gone (retention deletes only completed rows). */
export async function getOutboxState(ex: Executor, id: number): Promise<OutboxState | undefined> {
  const [row] = await ex
    .select({ jobId: outbox.jobId, completedAt: outbox.completedAt, failedAt: outbox.failedAt })
    .from(outbox)
    .where(eq(outbox.id, id));
  return (
    row && { jobId: row.jobId, completed: row.completedAt !== null, failed: row.failedAt !== null }
  );
}

/**
 * A job's writes name the row by its id and its job id: a row whose id a restored database
 * handed out again (another job id) is left alone.
 */
export interface OutboxJobRef {
  id: number;
  jobId: string;
}

const isRow = (ref: OutboxJobRef) => and(eq(outbox.id, ref.id), eq(outbox.jobId, ref.jobId));

/** Failed attempts' errors kept on a row (attempt_errors); a day of retries would be thousands. */
export const OUTBOX_ATTEMPT_ERRORS_KEPT = 20;

/** attempt_errors with this attempt's error appended, trimmed to the latest ones kept. */
const withAttemptError = (error: string) =>
  sql`jsonb_path_query_array(
    ${outbox.attemptErrors} || jsonb_build_array(jsonb_build_object(
      'at', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'attempt', ${outbox.attempts} + 1,
      'error', ${error}::text)),
    ${`$[last-${OUTBOX_ATTEMPT_ERRORS_KEPT - 1} to last]`}::jsonpath)`;

/**
 * The effect is done: counts the attempt and clears any earlier failure (a success after an ops
 * retry completes the row as usual). False when the row was completed already, or is not the
 * job's row.
 */
export async function markOutboxCompleted(ex: Executor, ref: OutboxJobRef): Promise<boolean> {
  const done = await ex
    .update(outbox)
    .set({
      completedAt: sql`now()`,
      failedAt: null,
      lastError: null,
      attempts: sql`${outbox.attempts} + 1`,
    })
    .where(and(isRow(ref), isNull(outbox.completedAt)))
    .returning({ id: outbox.id });
  return done.length > 0;
}

/** One attempt failed and will be retried: count it and keep its error for ops. */
export async function recordOutboxAttemptFailed(
  ex: Executor,
  ref: OutboxJobRef,
  error: string,
): Promise<void> {
  await ex
    .update(outbox)
    .set({
      lastError: error,
      attemptErrors: withAttemptError(error),
      attempts: sql`${outbox.attempts} + 1`,
    })
    .where(and(isRow(ref), isNull(outbox.completedAt)));
}

/** Given up on: the retry window is over or the failure is permanent. Never a completed row. */
export async function markOutboxFailed(
  ex: Executor,
  ref: OutboxJobRef,
  error: string,
): Promise<void> {
  await ex
    .update(outbox)
    .set({
      failedAt: sql`now()`,
      lastError: error,
      attemptErrors: withAttemptError(error),
      attempts: sql`${outbox.attempts} + 1`,
    })
    .where(and(isRow(ref), isNull(outbox.completedAt)));
}

/** A row that cannot become a job (unknown queue, broken payload): failed, nothing tried. */
export async function markOutboxUndispatchable(
  ex: Executor,
  id: number,
  error: string,
): Promise<void> {
  await ex
    .update(outbox)
    .set({ failedAt: sql`now()`, lastError: error })
    .where(and(eq(outbox.id, id), isNull(outbox.completedAt)));
}

/** Deletes up to `limit` completed rows older than `olderThanHours`; returns how many. */
export async function deleteCompletedOutbox(ex: Executor, limits: AgeLimits): Promise<number> {
  return deleteOlderThan(ex, outbox, { id: outbox.id, at: outbox.completedAt }, limits);
}
