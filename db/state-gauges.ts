import { count, isNull, sql } from 'drizzle-orm';
import type { Metrics } from '../lib/platform/metrics.js';
import { QUEUE_NAMES } from './outbox/events.js';
import type { Db } from './client.js';
import { deadLetters, inbox, orders, outbox } from './schema.js';
import { countOrdersWaitingTooLong, WAITING_KINDS } from './waiting-orders.js';

/**
 * Gauges of what Postgres holds, read at scrape time: outbox lag (how long the oldest due row has
 * waited to be handed to BullMQ), the age of the oldest open outbox row per queue (a peer outage
 * shows there while its jobs retry), inbox rows not yet applied, dead letters not yet replayed, and
 * refunds not confirmed (or failed) by Payments, and orders waiting too long for Shipping. Each is one
 * query on a partial index, so a scrape stays cheap whatever the table sizes.
 */
export function registerStateGauges(
  metrics: Metrics,
  db: Db,
  { shippingAnswerAlertAfterMs }: { shippingAnswerAlertAfterMs: number },
): void {
  metrics.gauge(
    'outbox_lag_seconds',
    'Age of the oldest outbox row due and not yet handed to BullMQ, counted from when it fell due ' +
      '(0 when none; a payment check waits in Postgres until it is due)',
    [],
    async () => {
      // Each kind from the partial index the relay claims it by (db/schema.ts): a check not yet
      // due is not late, and the thousands of them waiting are never read.
      const result = await db.execute<{ age: number }>(sql`
        select coalesce(extract(epoch from now() - least(
          (select min(${outbox.createdAt}) from ${outbox}
           where ${outbox.dispatchedAt} is null and ${outbox.completedAt} is null
             and ${outbox.failedAt} is null and ${outbox.runAfter} is null),
          (select min(${outbox.runAfter}) from ${outbox}
           where ${outbox.dispatchedAt} is null and ${outbox.completedAt} is null
             and ${outbox.failedAt} is null and ${outbox.runAfter} is not null
             and ${outbox.runAfter} <= now())
        )), 0)::float8 as age`);
      return [{ value: Number(result.rows[0]?.age ?? 0) }];
    },
  );
  metrics.gauge(
    'outbox_oldest_open_seconds',
    'Age of the oldest outbox row neither completed nor failed, by queue (0 when none), counted ' +
      'from when it was due (a payment check is due later than it is written): grows through a ' +
      'peer outage while jobs retry, and drops back once they get through',
    ['queue'],
    async () => {
      // One index probe per queue (outbox_open_queue_created_idx), however many rows are open.
      const result = await db.execute<{ queue: string; age: number }>(sql`
        select q.queue,
               coalesce(extract(epoch from now() - o.oldest), 0)::float8 as age
        from unnest(array[${sql.join(
          QUEUE_NAMES.map((q) => sql`${q}`),
          sql`, `,
        )}]::text[]) as q(queue)
        left join lateral (
          select min(coalesce(${outbox.runAfter}, ${outbox.createdAt})) as oldest from ${outbox}
          where ${outbox.queue} = q.queue
            and ${outbox.completedAt} is null and ${outbox.failedAt} is null
            and (${outbox.runAfter} is null or ${outbox.runAfter} <= now())
        ) o on true`);
      return result.rows.map((r) => ({ labels: { queue: r.queue }, value: Number(r.age) }));
    },
  );
  metrics.gauge('inbox_pending', 'Inbound events recorded but not yet applied', [], async () => {
    const [row] = await db.select({ n: count() }).from(inbox).where(isNull(inbox.processedAt));
    return [{ value: row?.n ?? 0 }];
  });
  metrics.gauge(
    'dead_letters',
    'Shipping messages dead-lettered and not yet replayed',
    [],
    async () => {
      const [row] = await db
        .select({ n: count() })
        .from(deadLetters)
        .where(isNull(deadLetters.replayedAt));
      return [{ value: row?.n ?? 0 }];
    },
  );
  metrics.gauge(
    'order_refunds',
    'Orders whose refund Payments has not confirmed, by refund_status: requested (asked, no ' +
      'outcome yet) and failed (Payments answered refund_failed: needs a person)',
    ['refund_status'],
    async () => {
      // Written as the partial index orders_refund_open_idx says it, so the planner uses it.
      const rows = await db
        .select({ status: orders.refundStatus, n: count() })
        .from(orders)
        .where(sql`${orders.refundStatus} in ('requested', 'failed')`)
        .groupBy(orders.refundStatus);
      return OPEN_REFUNDS.map((status) => ({
        labels: { refund_status: status },
        value: rows.find((r) => r.status === status)?.n ?? 0,
      }));
    },
  );
  metrics.gauge(
    'orders_waiting_too_long',
    'Orders waiting for Shipping longer than SHIPPING_ANSWER_ALERT_AFTER_MS, by status: paid (no ' +
      'shipment yet) and cancel_requested (no answer to the cancellation); listed at ' +
      '/admin/orders/waiting',
    ['status'],
    async () => {
      const counts = await countOrdersWaitingTooLong(db, shippingAnswerAlertAfterMs);
      return WAITING_KINDS.map((status) => ({ labels: { status }, value: counts[status] }));
    },
  );
}

const OPEN_REFUNDS = ['requested', 'failed'] as const;
