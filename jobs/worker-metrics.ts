import { and, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { outbox } from '../db/schema.js';
import type { Metrics } from '../lib/metrics.js';
import type { QueueName } from '../lib/outbox-events.js';
import type { JobOutcome } from './processors/run-outbox-job.js';
import type { Queues } from './queues.js';

/**
 * Feeds the worker's Prometheus metrics: the relay's commit-to-enqueue latency, each job
 * attempt's duration and outcome, and two gauges read at scrape time (outbox lag: the age of the
 * oldest row not yet handed to BullMQ; queue depths by state).
 */
export interface WorkerMetricHooks {
  onEnqueued(event: { queue: QueueName; lagMs: number }): void;
  onOutcome(event: { queue: QueueName; outcome: JobOutcome; ms: number }): void;
}

const FAILURES: ReadonlySet<JobOutcome> = new Set(['retry', 'rate-limited', 'failed']);
const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

export function instrumentWorker(
  metrics: Metrics,
  { db, queues }: { db: Db; queues: Queues },
): WorkerMetricHooks {
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
  metrics.gauge('queue_jobs', 'Jobs in BullMQ by queue and state', ['queue', 'state'], async () => {
    const counts = await Promise.all(
      Object.entries(queues).map(async ([queue, q]) => ({
        queue,
        counts: await q.getJobCounts(...STATES),
      })),
    );
    return counts.flatMap(({ queue, counts: c }) =>
      STATES.map((state) => ({ labels: { queue, state }, value: c[state] ?? 0 })),
    );
  });
  return {
    onEnqueued({ queue, lagMs }) {
      metrics.commitToEnqueue.observe(lagMs / 1000);
      metrics.relayed.inc({ queue });
    },
    onOutcome({ queue, outcome, ms }) {
      metrics.jobDuration.observe({ queue, outcome }, ms / 1000);
      if (FAILURES.has(outcome)) metrics.jobFailures.inc({ queue, kind: outcome });
    },
  };
}
