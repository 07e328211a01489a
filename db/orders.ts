import { and, asc, desc, eq, lt, sql } from 'drizzle-orm';
import { OUTBOX_CHANNEL, type NewOutboxRow } from './outbox/events.js';
import type { Db, Executor } from './client.js';
import { outboxInsertText, outboxParams } from './outbox/rows.js';
import { preparedName, run, statement, tableRows } from './statement.js';
import { orderStatusHistory, orders, type OrderRow } from './schema.js';

export interface NewOrder {
  id: string;
  userId: string;
  itemId: string;
  quantity: number;
  unitPrice: string;
  amount: string;
  idempotencyKey: string;
  requestHash: string;
  paymentIdempotencyKey: string;
}

export interface HistoryEntry {
  status: string;
  refundStatus: string | null;
  reason: string | null;
  createdAt: Date;
}

// The two hottest reads (every create asks the first, every read the second) are prepared by
// name, once per database handle, so neither drizzle nor Postgres plans them again per request
// (unnamed behind PgBouncer: preparedName).
const prepared = new WeakMap<Db, ReturnType<typeof prepare>>();
function prepare(db: Db) {
  return {
    byIdempotencyKey: db
      .select()
      .from(orders)
      .where(eq(orders.idempotencyKey, sql.placeholder('key')))
      .limit(1)
      .prepare(preparedName(db, 'orders_by_idempotency_key')),
    byId: db
      .select()
      .from(orders)
      .where(eq(orders.id, sql.placeholder('id')))
      .limit(1)
      .prepare(preparedName(db, 'orders_by_id')),
  };
}
function statements(db: Db) {
  let found = prepared.get(db);
  if (!found) prepared.set(db, (found = prepare(db)));
  return found;
}

export async function findOrderByIdempotencyKey(
  db: Db,
  key: string,
): Promise<OrderRow | undefined> {
  const [row] = await statements(db).byIdempotencyKey.execute({ key });
  return row;
}

export async function findOrderById(db: Db, id: string): Promise<OrderRow | undefined> {
  const [row] = await statements(db).byId.execute({ id });
  return row;
}

// Columns named, never *: a prepared statement's result type is fixed, and a column added by a
// migration while this process runs would make Postgres refuse a `*` one.
const orderRows = tableRows(orders);

// $11 is both the order's and its outbox rows' trace context (outboxParams gives the same value).
const orderInserted = statement(
  'order_insert',
  `with o as (
     insert into orders (id, user_id, item_id, quantity, unit_price, amount, status,
                         idempotency_key, request_hash, payment_idempotency_key, traceparent)
     values ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $9, $11::text)
     on conflict (idempotency_key) do nothing
     returning ${orderRows.columns}
   ), h as (
     insert into order_status_history (order_id, status, reason)
     select id, status, $10 from o
   ), ob as (${outboxInsertText('$11', '$12', 'select 1 from o')})
   select ${orderRows.columns}, pg_notify($13, '') from o`,
);

/**
 * Writes the order (status `new`), its first history row and its outbox rows, and signals the
 * relay: all or nothing. Returns undefined when an order with the same idempotency key exists.
 */
export async function insertNewOrder(
  db: Db,
  o: NewOrder,
  reason: string,
  outboxRows: NewOutboxRow[],
): Promise<OrderRow | undefined> {
  // One statement, so one round trip and one implicit transaction: intake throughput is bounded
  // by Postgres, and a multi-statement transaction would spend most of its time in round trips.
  // Data-modifying CTEs all run (or all fail) together; the history and outbox inserts happen
  // only if `o` inserted a row, so when the idempotency key already exists nothing is written.
  const [raw] = await run(db, orderInserted, [
    o.id,
    o.userId,
    o.itemId,
    o.quantity,
    o.unitPrice,
    o.amount,
    o.idempotencyKey,
    o.requestHash,
    o.paymentIdempotencyKey,
    reason,
    ...outboxParams(outboxRows),
    OUTBOX_CHANNEL,
  ]);
  return raw ? orderRows.map(raw) : undefined;
}

export async function orderHistory(db: Executor, orderId: string): Promise<HistoryEntry[]> {
  return db
    .select({
      status: orderStatusHistory.status,
      refundStatus: orderStatusHistory.refundStatus,
      reason: orderStatusHistory.reason,
      createdAt: orderStatusHistory.createdAt,
    })
    .from(orderStatusHistory)
    .where(eq(orderStatusHistory.orderId, orderId))
    .orderBy(asc(orderStatusHistory.id));
}

const orderFields = tableRows(orders, { alias: 'o', prefix: 'o_' });
const historyFields = tableRows(orderStatusHistory, {
  alias: 'h',
  prefix: 'h_',
  pick: ['status', 'refundStatus', 'reason', 'createdAt'],
});

// One statement, so one snapshot: read as two, a transition committing in between could show a
// status its history does not have yet.
const orderWithHistory = statement(
  'order_with_history',
  `select ${orderFields.columns}, ${historyFields.columns}
     from orders o
     left join order_status_history h on h.order_id = o.id
    where o.id = $1
    order by h.id`,
);

/** The order and its status history, as of one moment; undefined when there is no such order. */
export async function findOrderWithHistory(
  db: Db,
  id: string,
): Promise<{ order: OrderRow; history: HistoryEntry[] } | undefined> {
  const rows = await run(db, orderWithHistory, [id]);
  const [first] = rows;
  if (!first) return undefined;
  return {
    order: orderFields.map(first),
    history: rows.filter((r) => r.h_status !== null).map((r) => historyFields.map(r)),
  };
}

/** The trace context the order was created in (null when tracing was off, or no such order). */
export async function findOrderTraceparent(db: Db, id: string): Promise<string | null> {
  const [row] = await db
    .select({ traceparent: orders.traceparent })
    .from(orders)
    .where(eq(orders.id, id));
  return row?.traceparent ?? null;
}

/** A user's orders, newest first, strictly older than `beforeId` when given. */
export async function listOrdersByUser(
  db: Db,
  userId: string,
  limit: number,
  beforeId?: string,
): Promise<OrderRow[]> {
  return db
    .select()
    .from(orders)
    .where(
      beforeId
        ? and(eq(orders.userId, userId), lt(orders.id, beforeId))
        : eq(orders.userId, userId),
    )
    .orderBy(desc(orders.id))
    .limit(limit);
}
