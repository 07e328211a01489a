/**
 * What the ops console shows of recent order activity: orders made in the last hour and day by
 * their status now, and status changes per minute over the last hour (created = the `new` history
 * row, paid, shipped). Read once per page view, never per scrape: no Prometheus gauge reads them
 * (a counter's rate is Prometheus's own way to the same throughput).
 */
import { sql } from 'drizzle-orm';
import { uuidv7LowerBound } from '../lib/domain/ids.js';
import type { Executor } from './client.js';
import { orders, orderStatusHistory } from './schema.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface StatusCounts {
  status: string;
  lastHour: number;
  lastDay: number;
}

/**
 * Orders created in the last day (and hour) by current status. Order ids are UUIDv7, so the day's
 * orders are one range of the primary key; created_at keeps the window exact.
 */
export async function ordersByStatusRecently(
  ex: Executor,
  now = Date.now(),
): Promise<StatusCounts[]> {
  const result = await ex.execute<{ status: string; hour: string; day: string }>(sql`
    select ${orders.status} as status,
           count(*) filter (where ${orders.createdAt} >= ${new Date(now - HOUR_MS)}) as hour,
           count(*) as day
    from ${orders}
    where ${orders.id} >= ${uuidv7LowerBound(now - DAY_MS)}::uuid
      and ${orders.createdAt} >= ${new Date(now - DAY_MS)}
    group by ${orders.status}
    order by ${orders.status}`);
  return result.rows.map((r) => ({
    status: r.status,
    lastHour: Number(r.hour),
    lastDay: Number(r.day),
  }));
}

/** The statuses whose changes are counted per minute, in the order the sparkline draws them. */
export const THROUGHPUT_STATUSES = ['new', 'paid', 'shipped'] as const;
export type ThroughputStatus = (typeof THROUGHPUT_STATUSES)[number];

/**
 * The most history rows one reading looks at: the newest ones by id (the primary key), so the
 * page costs the same however long the table grows. At more changes than this per hour the
 * oldest minutes of the hour read low; the page says so (`capped`).
 */
export const HISTORY_ROWS_READ = 200_000;

export interface Throughput {
  /** The first minute of the window (ms since the epoch, on a minute boundary). */
  fromMinute: number;
  /** Per status, one count per minute from `fromMinute`, `minutes` long. */
  perMinute: Record<ThroughputStatus, number[]>;
  minutes: number;
  capped: boolean;
}

/** Status changes to new/paid/shipped per minute over the last `minutes` minutes (this one included). */
export async function throughputPerMinute(
  ex: Executor,
  { minutes = 60, now = Date.now() }: { minutes?: number; now?: number } = {},
): Promise<Throughput> {
  const fromMinute = Math.floor(now / 60_000) * 60_000 - (minutes - 1) * 60_000;
  const h = orderStatusHistory;
  const result = await ex.execute<{
    status: ThroughputStatus;
    minute: string;
    n: string;
    rows: string;
  }>(sql`
    with recent as (
      select ${h.status} as status, ${h.createdAt} as created_at from ${h}
      where ${h.id} > (select coalesce(max(${h.id}), 0) from ${h}) - ${HISTORY_ROWS_READ}
    )
    select status,
           (extract(epoch from date_trunc('minute', created_at)) * 1000)::bigint as minute,
           count(*) as n,
           (select count(*) from recent) as rows
    from recent
    where created_at >= ${new Date(fromMinute)}
      and status in (${sql.join(
        THROUGHPUT_STATUSES.map((s) => sql`${s}`),
        sql`, `,
      )})
    group by 1, 2`);
  const perMinute = Object.fromEntries(
    THROUGHPUT_STATUSES.map((s) => [s, Array.from({ length: minutes }, () => 0)]),
  ) as Record<ThroughputStatus, number[]>;
  let capped = false;
  for (const r of result.rows) {
    const i = Math.round((Number(r.minute) - fromMinute) / 60_000);
    if (i >= 0 && i < minutes) perMinute[r.status][i] = Number(r.n);
    if (Number(r.rows) >= HISTORY_ROWS_READ) capped = true;
  }
  return { fromMinute, perMinute, minutes, capped };
}
