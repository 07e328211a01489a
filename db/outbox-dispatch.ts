/**
 * The outbox rows as the relay and the reconciler see them: claiming undispatched rows for BullMQ,
 * and finding dispatched rows whose job Redis may have lost. (db/outbox.ts writes rows and their
 * job outcomes.)
 */
import { and, asc, eq, gt, inArray, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import { transactionOpenedWith, type Db, type Executor } from './client.js';
import { outbox } from './schema.js';

/** What the relay and the reconciler need of a row to enqueue it. */
export interface DispatchableRow {
  id: number;
  /** The row's job identity (outbox.job_id): its BullMQ job id derives from it. */
  jobId: string;
  queue: string;
  eventType: string;
  orderId: string | null;
  idempotencyKey: string;
  payload: unknown;
  /** The trace context the row was written in: its job's parent. */
  traceparent: string | null;
  /** Age of the row when claimed, by the database's clock (no skew with the app's clock). */
  ageMs: number;
  /** How long until the row's job may run (its run_after), by the same clock; 0 for at once. */
  delayMs: number;
}

/** The delay left until run_after, in ms, by the database's clock (0 when none or past). */
const DELAY_MS_SQL = `coalesce(greatest(0, extract(epoch from run_after - clock_timestamp()) * 1000), 0)::float8`;

const dispatchable = {
  id: outbox.id,
  jobId: outbox.jobId,
  queue: outbox.queue,
  eventType: outbox.eventType,
  orderId: outbox.orderId,
  idempotencyKey: outbox.idempotencyKey,
  payload: outbox.payload,
  traceparent: outbox.traceparent,
  ageMs: sql<number>`(extract(epoch from clock_timestamp() - ${outbox.createdAt}) * 1000)::float8`,
  delayMs: sql<number>`${sql.raw(DELAY_MS_SQL)}`.mapWith(Number),
};

/**
 * Claims up to `limit` undispatched rows in id order and marks them dispatched, in the statement
 * that opens the transaction `work` runs in (one round trip for BEGIN and the claim, each row
 * written once). `work` enqueues them: the mark is visible only if the transaction commits, so
 * when enqueueing fails and it rolls back, nothing is dispatched that was not enqueued. SKIP
 * LOCKED lets several relays claim disjoint batches at once. Rows marked failed (not
 * enqueueable) are left out so they never block the rows behind them; clearing failed_at offers
 * one again. Rows come to `work` in id order.
 */
export async function withClaimedRows<T>(
  db: Db,
  limit: number,
  work: (rows: DispatchableRow[], tx: Executor) => Promise<T>,
): Promise<T> {
  // Inlined, not bound: BEGIN and the claim travel as one simple query, which has no parameters.
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`bad claim limit ${limit}`);
  return transactionOpenedWith<RawDispatchable, T>(db, claimText(limit), (rows, tx) =>
    // UPDATE ... RETURNING has no order; jobs are added in id order.
    work(
      rows.map(dispatchableOf).sort((x, y) => x.id - y.id),
      tx,
    ),
  );
}

const claimText = (limit: number) =>
  `update outbox set dispatched_at = now()
   where id in (
     select id from outbox
     where dispatched_at is null and failed_at is null
     order by id
     limit ${limit}
     for update skip locked)
   returning id, job_id, queue, event_type, order_id, idempotency_key, payload, traceparent,
     (extract(epoch from clock_timestamp() - created_at) * 1000)::float8 as age_ms,
     ${DELAY_MS_SQL} as delay_ms`;

interface RawDispatchable {
  id: number;
  job_id: string;
  queue: string;
  event_type: string;
  order_id: string | null;
  idempotency_key: string;
  payload: unknown;
  traceparent: string | null;
  age_ms: number;
  delay_ms: number;
}

const dispatchableOf = (r: RawDispatchable): DispatchableRow => ({
  id: Number(r.id),
  jobId: r.job_id,
  queue: r.queue,
  eventType: r.event_type,
  orderId: r.order_id,
  idempotencyKey: r.idempotency_key,
  payload: r.payload,
  traceparent: r.traceparent,
  ageMs: Number(r.age_ms),
  delayMs: Number(r.delay_ms),
});

/** A claimed row that cannot become a job: failed with the reason, and not dispatched. */
export async function markClaimedUndispatchable(
  tx: Executor,
  id: number,
  error: string,
): Promise<void> {
  await tx
    .update(outbox)
    .set({ dispatchedAt: null, failedAt: sql`now()`, lastError: error })
    .where(eq(outbox.id, id));
}

/**
 * The reconciler's page: rows handed to BullMQ more than `olderThanMs` ago and still open, in id
 * order after `afterId`, so a pass walks past rows whose jobs are fine. Open dispatched rows are
 * the ones in flight, few at any time; the partial index outbox_open_dispatched_idx finds them.
 */
export async function findOpenDispatched(
  ex: Executor,
  { olderThanMs, afterId, limit }: { olderThanMs: number; afterId: number; limit: number },
): Promise<DispatchableRow[]> {
  return ex
    .select(dispatchable)
    .from(outbox)
    .where(
      and(
        isNotNull(outbox.dispatchedAt),
        isNull(outbox.completedAt),
        isNull(outbox.failedAt),
        lt(outbox.dispatchedAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`),
        // A delayed job (a payment check) is not due before run_after: looked at after it.
        sql`(${outbox.runAfter} is null or ${outbox.runAfter} < now() - make_interval(secs => ${olderThanMs / 1000}))`,
        gt(outbox.id, afterId),
      ),
    )
    .orderBy(asc(outbox.id))
    .limit(limit);
}

/** Re-enqueued by the reconciler: restart the clock so the next pass leaves them alone. */
export async function markRedispatched(ex: Executor, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await ex
    .update(outbox)
    .set({ dispatchedAt: sql`now()` })
    .where(and(inArray(outbox.id, ids), isNull(outbox.completedAt), isNull(outbox.failedAt)));
}
