import { and, eq, isNull, sql } from 'drizzle-orm';
import { OUTBOX_CHANNEL, WEBHOOK_NOW, WEBHOOKS_QUEUE, type NewOutboxRow } from './events.js';
import { ALL_ORDER_EVENTS } from '../../lib/domain/order-events.js';
import { currentTraceparent } from '../../lib/platform/trace-context.js';
import type { Executor } from '../client.js';
import { deleteOlderThan, type AgeLimits } from '../delete-old.js';
import { outbox } from '../schema.js';
import { run, statement } from '../statement.js';

/**
 * The one INSERT of outbox rows, as SQL text for a statement (db/statement.ts): rows travel as one
 * JSON parameter (`outboxParams`), so any number of them is one round trip. `trace` and `rows`
 * name the statement's parameters ($n) holding the writer's trace context (null when tracing is
 * off, so each job continues the same trace) and the rows. With `onlyIf` (a query), nothing is
 * inserted unless it returns a row: intake inserts its rows only when its order insert did.
 *
 * A webhook template (orderWebhook) becomes one `webhooks` row per active subscription to its
 * event or to every event, by a join in this same statement: no subscription, no row, and no
 * round trip either way. Its `webhook-id` and idempotency key are derived from (order, event,
 * subscription), so a row written again (a replay, a restore) is recognisably the same message.
 */
export function outboxInsertText(trace: string, rows: string, onlyIf?: string): string {
  // One pass over the rows: a plain row meets no subscription (s.id null) and is inserted as
  // given; a template is inserted once per subscription it meets, and not at all when none.
  const fanned = (plain: string, webhook: string) =>
    `case when s.id is null then ${plain} else ${webhook} end`;
  return `
    insert into outbox
      (queue, event_type, order_id, idempotency_key, payload, traceparent, run_after)
    select ${fanned('v.queue', `'${WEBHOOKS_QUEUE}'`)}, v.event_type, v.order_id,
      ${fanned('v.idempotency_key', 'md5(m.name)::uuid')},
      ${fanned(
        'v.payload',
        `jsonb_build_object(
          'subscription_id', s.id, 'message_id', 'msg_' || md5(m.name),
          'order_id', v.order_id, 'event', v.event_type,
          'body', replace(v.webhook_body, '${JSON.stringify(WEBHOOK_NOW)}', to_json(${NOW_ISO})::text))`,
      )},
      ${trace}::text, now() + make_interval(secs => v.delay_ms / 1000.0)
    from ${outboxRowsFrom(rows)}
    left join lateral (
      select s.id from webhook_subscriptions s
      where v.webhook_body is not null
        and s.active and s.events && array[v.event_type, '${ALL_ORDER_EVENTS}']
    ) s on true
    cross join lateral (select v.order_id || ':' || v.event_type || ':' || s.id as name) m
    where (v.webhook_body is null) = (s.id is null)
    ${onlyIf ? `and exists (${onlyIf})` : ''}
    returning id`;
}

/**
 * now() as the API writes a time (Date.toISOString: UTC, milliseconds, truncated as pg reads).
 * The colons are quoted text of the format: pgbench (scripts/bench) would read `:MI` as a variable.
 */
const NOW_ISO = `to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24":"MI":"SS.MS"Z"')`;

/**
 * The rows of outboxParams's JSON parameter (`rows` names it) as a table `v`, for a FROM clause:
 * the one place that spells out the shape outboxParams writes.
 */
export function outboxRowsFrom(rows: string): string {
  return `jsonb_to_recordset(${rows}::jsonb)
      as v(queue text, event_type text, order_id uuid, idempotency_key uuid, payload jsonb,
        delay_ms bigint, webhook_body text)`;
}

/** The values of outboxInsertText's two parameters: the trace context, and the rows as JSON. */
export function outboxParams(rows: NewOutboxRow[]): [string | null, string] {
  const values = JSON.stringify(
    rows.map((r) => ({
      queue: r.queue,
      event_type: r.eventType,
      order_id: r.orderId,
      idempotency_key: r.idempotencyKey,
      payload: r.payload,
      // Absent for a row to run at once: run_after stays null.
      delay_ms: r.delayMs,
      webhook_body: r.webhookBody,
    })),
  );
  return [currentTraceparent(), values];
}

const outboxRowsInserted = statement<{ id: number | string }>(
  'outbox_insert_notify',
  `with ins as (${outboxInsertText('$1', '$2')}),
   wake as (select pg_notify($3, ''))
   select ins.id from ins, wake`,
);

/**
 * Inserts outbox rows and signals the relay, in one statement (one round trip: this runs in every
 * applied event). The NOTIFY is delivered only if the transaction commits.
 */
export async function insertOutboxRows(tx: Executor, rows: NewOutboxRow[]): Promise<number[]> {
  if (rows.length === 0) return [];
  const inserted = await run(tx, outboxRowsInserted, [...outboxParams(rows), OUTBOX_CHANNEL]);
  // Ids may come back as text; callers get them in insertion (id) order.
  return inserted.map((r) => Number(r.id)).sort((x, y) => x - y);
}

export interface OutboxState {
  /** The row's job identity: a job acts on this row only if its data carries the same. */
  jobId: string;
  completed: boolean;
  failed: boolean;
}

/**
 * OutboxState's columns of the outbox row `alias`, for a select list, named with `prefix`: a
 * statement that reads more than the row (the inbox job's lock) reads its state with them.
 */
export function outboxStateColumns(alias: string, prefix = ''): string {
  return `${alias}.job_id as ${prefix}job_id,
    ${alias}.completed_at is not null as ${prefix}completed,
    ${alias}.failed_at is not null as ${prefix}failed`;
}

/**
 * The OutboxState in a row read with outboxStateColumns; undefined when the outbox row was not
 * there (an outer join's nulls: job_id is never null in a row).
 */
export function outboxStateOf(raw: Record<string, unknown>, prefix = ''): OutboxState | undefined {
  const jobId = raw[`${prefix}job_id`];
  if (jobId === null || jobId === undefined) return undefined;
  return {
    jobId: String(jobId),
    completed: raw[`${prefix}completed`] === true,
    failed: raw[`${prefix}failed`] === true,
  };
}

const outboxState = statement(
  'outbox_state',
  `select ${outboxStateColumns('outbox')} from outbox where id = $1`,
);

/** undefined when the row is gone (retention deletes only completed rows). */
export async function getOutboxState(ex: Executor, id: number): Promise<OutboxState | undefined> {
  const [row] = await run(ex, outboxState, [id]);
  return row && outboxStateOf(row);
}

/**
 * A job's writes name the row by its id and its job id: a row whose id a restored database
 * handed out again (another job id) is left alone.
 */
export interface OutboxJobRef {
  id: number;
  jobId: string;
}

/**
 * True when `state` is an open row of the job `ref`: there, not completed, and carrying the job's
 * id. A job acts only on such a row (a failed row is open: an ops retry runs it again).
 */
export function isOpenRowOf(ref: OutboxJobRef, state: OutboxState | undefined): boolean {
  return state !== undefined && !state.completed && state.jobId === ref.jobId;
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
  const done = await run(ex, outboxCompleted, [ref.id, ref.jobId]);
  return done.length > 0;
}

/**
 * The completion of a job's outbox row, as SQL text for a statement: `id` and `jobId` name its
 * parameters. Counts the attempt and clears any earlier failure; only the job's own open row.
 */
export function outboxCompletedText(id: string, jobId: string): string {
  return `update outbox
   set completed_at = now(), failed_at = null, last_error = null, attempts = attempts + 1
   where id = ${id} and job_id = ${jobId} and completed_at is null
   returning id`;
}

const outboxCompleted = statement<{ id: number }>(
  'outbox_completed',
  outboxCompletedText('$1', '$2'),
);

/** One attempt failed and will be retried: count it and keep its error for ops. */
export async function recordOutboxAttemptFailed(
  ex: Executor,
  ref: OutboxJobRef,
  error: string,
): Promise<void> {
  await ex
    .update(outbox)
    .set(attemptFailed(error))
    .where(and(isRow(ref), isNull(outbox.completedAt)));
}

/** What every failed attempt records on its row: the error, kept with the latest few, counted. */
function attemptFailed(error: string) {
  return {
    lastError: error,
    attemptErrors: withAttemptError(error),
    attempts: sql`${outbox.attempts} + 1`,
  };
}

/** Given up on: the retry window is over or the failure is permanent. Never a completed row. */
export async function markOutboxFailed(
  ex: Executor,
  ref: OutboxJobRef,
  error: string,
): Promise<void> {
  await ex
    .update(outbox)
    .set({ failedAt: sql`now()`, ...attemptFailed(error) })
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
