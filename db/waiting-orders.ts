/**
 * Orders waiting too long for Shipping's answer: `paid` (no shipment yet) or with a cancellation
 * asked of Shipping, for longer than a threshold. Shipping can take days, so nothing acts on
 * them: they are counted (the orders_waiting_too_long gauge) and listed for ops. Both queries
 * walk the partial index orders_paid_updated_idx (paid orders by when their status last changed:
 * for a cancel-requested one, when the cancellation was asked).
 */
import { and, asc, count, eq, isNotNull, lt, sql } from 'drizzle-orm';
import type { Executor } from './client.js';
import { orders } from './schema.js';

/** What an order waits for: a shipment (`paid`), or Shipping's answer to a cancellation. */
export const WAITING_KINDS = ['paid', 'cancel_requested'] as const;
export type WaitingKind = (typeof WAITING_KINDS)[number];

const olderThan = (ms: number) =>
  and(
    eq(orders.status, 'paid'),
    lt(orders.updatedAt, sql`now() - make_interval(secs => ${ms / 1000})`),
  );

/** How many orders of each kind have waited longer than `olderThanMs`. */
export async function countOrdersWaitingTooLong(
  ex: Executor,
  olderThanMs: number,
): Promise<Record<WaitingKind, number>> {
  const rows = await ex
    .select({ cancelRequested: isNotNull(orders.cancelRequestedAt), n: count() })
    .from(orders)
    .where(olderThan(olderThanMs))
    .groupBy(isNotNull(orders.cancelRequestedAt));
  return {
    paid: rows.find((r) => !r.cancelRequested)?.n ?? 0,
    cancel_requested: rows.find((r) => r.cancelRequested)?.n ?? 0,
  };
}

export interface WaitingOrder {
  id: string;
  userId: string;
  waitingFor: WaitingKind;
  /** Since when: the status change (or cancellation request) it waits on. */
  since: Date;
  waitedMs: number;
}

/** The longest-waiting orders first, at most `limit`. */
export async function listOrdersWaitingTooLong(
  ex: Executor,
  { olderThanMs, limit }: { olderThanMs: number; limit: number },
): Promise<WaitingOrder[]> {
  const rows = await ex
    .select({
      id: orders.id,
      userId: orders.userId,
      cancelRequestedAt: orders.cancelRequestedAt,
      since: orders.updatedAt,
      waitedMs: sql<number>`(extract(epoch from now() - ${orders.updatedAt}) * 1000)::float8`,
    })
    .from(orders)
    .where(olderThan(olderThanMs))
    .orderBy(asc(orders.updatedAt))
    .limit(limit);
  return rows.map((r) => ({
    id: r.id,
    userId: r.userId,
    waitingFor: r.cancelRequestedAt ? 'cancel_requested' : 'paid',
    since: r.since,
    waitedMs: Math.round(Number(r.waitedMs)),
  }));
}
