import { and, count, isNull, sql } from 'drizzle-orm';
import type { Metrics } from '../lib/platform/metrics.js';
import type { Db } from './client.js';
import { deadLetters, inbox, outbox } from './schema.js';

/**
 * Gauges of what Postgres holds, read at scrape time: outbox lag (age of the oldest row not yet
 * handed to BullMQ), inbox rows not yet applied, and dead letters not yet replayed. Each is one
 * query on a partial index, so a scrape stays cheap whatever the table sizes.
 */
export function registerStateGauges(metrics: Metrics, db: Db): void {
  metrics.gauge(
    'outbox_lag_seconds',
    'Age of the oldest outbox row not yet handed to BullMQ (0 when none)',
    [],
    async () => {
      const [row] = await db
        .select({
          age: sql<number>`coalesce(extract(epoch from now() - min(${outbox.createdAt})), 0)::float8`,
        })
        .from(outbox)
        .where(and(isNull(outbox.dispatchedAt), isNull(outbox.failedAt)));
      return [{ value: row?.age ?? 0 }];
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
}
