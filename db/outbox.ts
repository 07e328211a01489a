import { sql } from 'drizzle-orm';
import { OUTBOX_CHANNEL, type NewOutboxRow } from '../lib/outbox-events.js';
import type { Executor } from './client.js';
import { outbox } from './schema.js';

/** Inserts outbox rows and signals the relay; the NOTIFY is delivered only if the transaction commits. */
export async function insertOutboxRows(tx: Executor, rows: NewOutboxRow[]): Promise<number[]> {
  if (rows.length === 0) return [];
  const inserted = await tx
    .insert(outbox)
    .values(rows.map((r) => ({ ...r })))
    .returning({ id: outbox.id });
  await tx.execute(sql`select pg_notify(${OUTBOX_CHANNEL}, '')`);
  return inserted.map((r) => r.id);
}
