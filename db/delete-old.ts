import { sql } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Executor } from './client.js';

export interface AgeLimits {
  olderThanHours: number;
  limit: number;
}

/**
 * Retention's one statement: deletes up to `limit` rows of `table` whose `at` is older than
 * `olderThanHours`, oldest first, and returns how many. Rows whose `at` is null are never old.
 * SKIP LOCKED and a small limit keep each statement short, so it never holds many locks for long
 * and steps around rows the hot path has locked.
 */
export async function deleteOlderThan(
  ex: Executor,
  table: PgTable,
  { id, at }: { id: PgColumn; at: PgColumn },
  { olderThanHours, limit }: AgeLimits,
): Promise<number> {
  const result = await ex.execute(sql`
    delete from ${table} where ${id} in (
      select ${id} from ${table}
      where ${at} < now() - make_interval(secs => ${olderThanHours * 3600})
      order by ${at}
      limit ${limit}
      for update skip locked
    )`);
  return result.rowCount ?? 0;
}
