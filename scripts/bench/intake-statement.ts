/**
 * The intake statement for pgbench, taken from db/orders.ts itself rather than copied: the orders
 * store is given a stand-in `db` that only records the SQL it is asked to run, drizzle renders it
 * with the real dialect, and each parameter becomes a pgbench expression (fresh ids and keys per
 * transaction) or a literal. If the statement changes shape, the sentinels below stop matching
 * and this fails loudly instead of measuring something else.
 */
import { randomUUID } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Db } from '../../db/client.js';
import { insertNewOrder, type NewOrder } from '../../db/orders.js';
import { multiplyMoney } from '../../lib/domain/money.js';
import { notification, paymentRequested } from '../../db/outbox/events.js';
import { createdWebhook } from '../../lib/orders/order-webhooks.js';
import { DEMO_ITEMS } from '../peers/catalog.js';

export interface IntakeStatement {
  /** The SQL as the service sends it, with $n placeholders. */
  sql: string;
  params: unknown[];
}

const ITEM = DEMO_ITEMS[0]!;

/** An order like the ones the HTTP intake run creates, with recognisable ids and keys. */
function templateOrder(): NewOrder {
  const quantity = 2;
  return {
    id: randomUUID(),
    userId: `bench-user-sentinel-${randomUUID()}`,
    itemId: ITEM.id,
    quantity,
    unitPrice: ITEM.price,
    amount: multiplyMoney(ITEM.price, quantity),
    idempotencyKey: randomUUID(),
    requestHash: 'f'.repeat(64),
    paymentIdempotencyKey: randomUUID(),
  };
}

/** Runs the real insertNewOrder against a recorder and returns the SQL it would have sent. */
export async function captureIntakeStatement(order: NewOrder = templateOrder()) {
  let captured: SQL | undefined;
  // insertNewOrder calls db.execute(sql`…`) and reads `.rows`; nothing else of Db is touched, so a
  // stand-in with that one method is enough (cast: Db's full type is drizzle's whole client).
  const recorder = {
    execute: (query: SQL) => {
      captured = query;
      return Promise.resolve({ rows: [] });
    },
  } as unknown as Db;
  await insertNewOrder(recorder, order, 'order created', [
    paymentRequested(order),
    notification(order, 'order.created', `Order ${order.id} for 2 × ${ITEM.name} created`),
    // As intake sends it: the order.created template, which meets no subscription in the bench.
    createdWebhook(order),
  ]);
  if (!captured) throw new Error('db/orders.ts insertNewOrder did not run a statement');
  const { sql, params } = new PgDialect().sqlToQuery(captured);
  return { order, statement: { sql, params } satisfies IntakeStatement };
}

/**
 * A string literal pgbench passes through untouched: E'…' with `:` written as \x3a, because
 * pgbench would take `:name` inside the JSON payload for one of its variables.
 */
export function pgbenchLiteral(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const escaped = text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/:/g, '\\x3a');
  return `E'${escaped}'`;
}

/**
 * A time-ordered uuid like the service's UUIDv7 order ids (millisecond time first, then random
 * bits), so the orders primary key grows at its right edge as it does in production; a random
 * gen_random_uuid() there would touch pages all over the index and favour neither side fairly.
 * Postgres 15 has no uuidv7(); 12 hex digits of epoch ms + 20 of a random uuid make one.
 */
const TIME_ORDERED_UUID =
  "(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')" +
  " || substr(replace(gen_random_uuid()::text, '-', ''), 13))::uuid";

export interface PgbenchScriptOptions {
  /** Leave out the pg_notify (a diagnostic: what the NOTIFY costs at commit). */
  withoutNotify?: boolean;
}

/** The pgbench script: `\set` for the varying user, then the intake statement. */
export async function pgbenchScript(options: PgbenchScriptOptions = {}): Promise<string> {
  const { order, statement } = await captureIntakeStatement();
  const expressions = new Map<unknown, string>([
    [order.id, TIME_ORDERED_UUID],
    [order.idempotencyKey, 'gen_random_uuid()'],
    [order.paymentIdempotencyKey, 'gen_random_uuid()'],
    [order.userId, "('bench-user-' || :uid::text)"],
  ]);
  const used = new Set<unknown>();
  let sql = statement.sql.replace(/\$(\d+)/g, (_m, n: string) => {
    const value = statement.params[Number(n) - 1];
    const expression = expressions.get(value);
    if (expression !== undefined) {
      used.add(value);
      return expression;
    }
    return pgbenchLiteral(value);
  });
  if (used.size !== expressions.size) {
    throw new Error(
      'the intake statement in db/orders.ts no longer takes the order id, user id and keys as ' +
        'parameters; update scripts/bench/intake-statement.ts to match it',
    );
  }
  if (options.withoutNotify) {
    const notify = /pg_notify\([^()]*\)/g;
    if ((sql.match(notify) ?? []).length !== 1) {
      throw new Error('expected exactly one pg_notify(…) in the intake statement');
    }
    sql = sql.replace(notify, 'null');
  }
  const oneLine = sql.replace(/\s+/g, ' ').trim();
  return `\\set uid random(0, 999)\n${oneLine};\n`;
}
