/**
 * The outbox rows as the relay and the reconciler see them: claiming undispatched rows for BullMQ,
 * and finding dispatched rows whose job Redis may have lost. (./rows.ts writes rows and their
 * job outcomes.)
 */
import {
  and,
  asc,
  eq,
  getTableColumns,
  gt,
  inArray,
  isNotNull,
  isNull,
  lt,
  sql,
} from 'drizzle-orm';
import type { Db, Executor } from '../client.js';
import { outbox, type OutboxRow } from '../schema.js';
import { run, statement, tableRows } from '../statement.js';

/**
 * The columns the relay and the reconciler need of a row to enqueue it (schema.ts says what each
 * holds: jobId is the BullMQ job's identity, traceparent the job's parent trace).
 */
const DISPATCH_COLUMNS = [
  'id',
  'jobId',
  'queue',
  'eventType',
  'orderId',
  'idempotencyKey',
  'payload',
  'traceparent',
] as const;

/** A row as the relay and the reconciler enqueue it. */
export type DispatchableRow = Pick<OutboxRow, (typeof DISPATCH_COLUMNS)[number]> & {
  /**
   * How long the row had been due when claimed (since it was written, or since its run_after when
   * later), by the database's clock (no skew with the app's clock).
   */
  ageMs: number;
  /** How long until the row's job may run (its run_after), by the same clock; 0 for at once. */
  delayMs: number;
};

/** How long the row has been due, in ms, by the database's clock. */
const AGE_MS_SQL = `(extract(epoch from clock_timestamp() - greatest(created_at, run_after)) * 1000)::float8`;
/** The delay left until run_after, in ms, by the database's clock (0 when none or past). */
const DELAY_MS_SQL = `coalesce(greatest(0, extract(epoch from run_after - clock_timestamp()) * 1000), 0)::float8`;

// The claim's raw text and the reconciler's query builder read the same columns, decoded alike.
const dispatchRows = tableRows(outbox, { pick: DISPATCH_COLUMNS });
const outboxColumns = getTableColumns(outbox);
const dispatchable = {
  ...(Object.fromEntries(DISPATCH_COLUMNS.map((key) => [key, outboxColumns[key]])) as Pick<
    typeof outboxColumns,
    (typeof DISPATCH_COLUMNS)[number]
  >),
  ageMs: sql.raw(AGE_MS_SQL).mapWith(Number),
  delayMs: sql.raw(DELAY_MS_SQL).mapWith(Number),
};
const dispatchableOf = (raw: Record<string, unknown>): DispatchableRow => ({
  ...dispatchRows.map(raw),
  ageMs: Number(raw.age_ms),
  delayMs: Number(raw.delay_ms),
});

/** What a claim tells beside its rows. */
export interface ClaimInfo {
  /**
   * How long until the earliest row not yet due falls due, in ms by the database's clock (≤ 0
   * when it fell due as the claim ran); null when none waits. The relay sets a timer by it.
   */
  nextDueInMs: number | null;
}

/**
 * Claims up to `limit` undispatched rows that are due, marks them dispatched and commits, in one
 * statement (one round trip); then `work` enqueues them. A row is due when it has no run_after or
 * its run_after has come, by the database's clock; one written to run later (a payment check)
 * stays undispatched until then, so it costs Redis nothing when its order settles first (the
 * transition completes it, and a completed row is never claimed). The same statement says when
 * the next waiting row falls due. SKIP LOCKED and the committed mark let several relays claim
 * disjoint batches at once. Rows come to `work` in id order.
 *
 * The claim commits before the rows reach Redis, which saves the COMMIT round trip a transaction
 * held open across `addBulk` would cost on every batch. When `work` fails (Redis down, a bug), the
 * rows not completed meanwhile are released (undispatched again) before the error goes on, so the
 * relay's retry claims them again; one added before the failure is re-added under its job id,
 * which BullMQ ignores. When the release fails too (Postgres gone as well), or the process dies
 * between the claim and `addBulk`, the rows stay marked dispatched with no job: the reconciler
 * re-adds such rows once they are RECONCILE_AFTER_MS old, as it does for jobs Redis lost. Rows
 * marked failed (not enqueueable) are left out so they never block the rows behind them;
 * clearing failed_at offers one again.
 */
export async function withClaimedRows<T>(
  db: Db,
  limit: number,
  work: (rows: DispatchableRow[], ex: Executor, info: ClaimInfo) => Promise<T>,
  /** The release after a failed `work` failed too: told, since the batch's own error is thrown. */
  onReleaseFailed?: (err: unknown, ids: number[]) => void,
): Promise<T> {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`bad claim limit ${limit}`);
  const raw = await run(db, claim, [limit]);
  // At least one row comes back, carrying next_due_in_ms: with no id when nothing was claimed.
  const nextDue = raw[0]?.next_due_in_ms;
  const info = { nextDueInMs: nextDue === null || nextDue === undefined ? null : Number(nextDue) };
  const rows = raw.filter((r) => r.id !== null && r.id !== undefined).map(dispatchableOf);
  // UPDATE ... RETURNING has no order; jobs are added in id order.
  rows.sort((x, y) => x.id - y.id);
  try {
    return await work(rows, db, info);
  } catch (err) {
    if (rows.length > 0) {
      const ids = rows.map((r) => r.id);
      await run(db, release, [ids]).catch((releaseErr: unknown) =>
        onReleaseFailed?.(releaseErr, ids),
      );
    }
    throw err;
  }
}

const release = statement(
  'outbox_claim_release',
  `update outbox set dispatched_at = null
   where id = any($1::bigint[]) and completed_at is null and failed_at is null`,
);

/**
 * Each kind of due row is read from its own partial index (db/schema.ts), so neither read walks
 * past rows that are not due: rows to run at once in id order (outbox_undispatched_now_idx), and
 * rows written to run later whose time has come, earliest first (outbox_undispatched_later_idx,
 * its range ending at now()). The first `limit` of both by id are claimed; the others locked
 * here are let go at commit and claimed by the next batch, which the relay runs since this one
 * was full. (A UNION may not lock rows; CTEs may.) The earliest row still waiting is the first
 * entry past now() of the second index.
 */
const claim = statement<Record<string, unknown>>(
  'outbox_claim',
  `with due_now as (
     select id from outbox
     where dispatched_at is null and completed_at is null and failed_at is null
       and run_after is null
     order by id
     limit $1::int
     for update skip locked
   ), due_later as (
     select id from outbox
     where dispatched_at is null and completed_at is null and failed_at is null
       and run_after is not null and run_after <= now()
     order by run_after
     limit $1::int
     for update skip locked
   ), claimed as (
     update outbox set dispatched_at = now()
     where id in (
       select id from (select id from due_now union all select id from due_later) due
       order by id
       limit $1::int)
     returning ${dispatchRows.columns}, ${AGE_MS_SQL} as age_ms, ${DELAY_MS_SQL} as delay_ms
   )
   select claimed.*, waiting.next_due_in_ms
   from (
     select (extract(epoch from min(run_after) - clock_timestamp()) * 1000)::float8 as next_due_in_ms
     from outbox
     where dispatched_at is null and completed_at is null and failed_at is null
       and run_after is not null and run_after > now()
   ) waiting
   left join claimed on true`,
);

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
        // A row whose job waits in BullMQ's delayed set for its run_after is not due before
        // then: looked at after it.
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
