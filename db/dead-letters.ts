import { and, asc, eq, isNull } from 'drizzle-orm';
import { toStorableText } from '../lib/domain/storable-text.js';
import type { Executor } from './client.js';
import { deadLetters, type DeadLetterRow } from './schema.js';

/** Where one Kafka message sits, for dead letters and logs. */
export interface MessagePosition {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
}

export interface NewDeadLetter extends MessagePosition {
  value: string | null;
  reason: string;
}

const storable = (s: string | null) => (s === null ? null : toStorableText(s));

/**
 * Keeps a message that could not be taken in; a redelivery of the same position is a no-op. Text
 * Postgres cannot hold (NUL, unpaired surrogates) is replaced by U+FFFD and the reason says so: a
 * dead letter that could not be written would hold its partition for ever.
 */
export async function insertDeadLetter(db: Executor, letter: NewDeadLetter): Promise<void> {
  const key = storable(letter.key);
  const value = storable(letter.value);
  const changed = key !== letter.key || value !== letter.value;
  const reason = toStorableText(
    changed ? `${letter.reason} (NUL or unpaired surrogates replaced by U+FFFD)` : letter.reason,
  );
  await db
    .insert(deadLetters)
    .values({ ...letter, key, value, reason, offset: BigInt(letter.offset) })
    .onConflictDoNothing({
      target: [deadLetters.topic, deadLetters.partition, deadLetters.offset],
    });
}

export async function listDeadLetters(
  db: Executor,
  { includeReplayed = false, limit = 100 } = {},
): Promise<DeadLetterRow[]> {
  return db
    .select()
    .from(deadLetters)
    .where(includeReplayed ? undefined : isNull(deadLetters.replayedAt))
    .orderBy(asc(deadLetters.id))
    .limit(limit);
}

export async function findDeadLetter(db: Executor, id: number): Promise<DeadLetterRow | undefined> {
  const [row] = await db.select().from(deadLetters).where(eq(deadLetters.id, id)).limit(1);
  return row;
}

export async function markDeadLetterReplayed(db: Executor, id: number): Promise<boolean> {
  const rows = await db
    .update(deadLetters)
    .set({ replayedAt: new Date() })
    .where(and(eq(deadLetters.id, id), isNull(deadLetters.replayedAt)))
    .returning({ id: deadLetters.id });
  return rows.length > 0;
}
