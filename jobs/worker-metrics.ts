import type { Db } from '../db/client.js';
import { registerStateGauges } from '../db/state-gauges.js';
import type { Metrics } from '../lib/platform/metrics.js';
import type { QueueName } from '../db/outbox/events.js';
import type { JobOutcome } from './outbox/run-job.js';
import type { ShardedQueues } from './outbox/queues.js';

/**
 * Feeds the worker's Prometheus metrics: the relay's commit-to-enqueue latency, each job
 * attempt's duration and outcome, and gauges read at scrape time (queue depths by state, and
 * Postgres state: outbox lag, pending inbox rows, dead letters).
 */
export interface WorkerMetricHooks {
  onEnqueued(event: { queue: QueueName; lagMs: number }): void;
  onOutcome(event: { queue: QueueName; outcome: JobOutcome; ms: number }): void;
}

const FAILURES: ReadonlySet<JobOutcome> = new Set(['retry', 'rate-limited', 'failed']);
const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** Jobs by queue and state, read from BullMQ at scrape time; a split queue's shards added up. */
export function registerQueueDepthGauge(metrics: Metrics, queues: ShardedQueues): void {
  metrics.gauge('queue_jobs', 'Jobs in BullMQ by queue and state', ['queue', 'state'], async () => {
    const counts = await Promise.all(
      Object.entries(queues).map(async ([queue, shards]) => {
        const each = await Promise.all(shards.map((q) => q.getJobCounts(...STATES)));
        const sum: Record<string, number> = {};
        for (const c of each)
          for (const state of STATES) sum[state] = (sum[state] ?? 0) + (c[state] ?? 0);
        return { queue, counts: sum };
      }),
    );
    return counts.flatMap(({ queue, counts: c }) =>
      STATES.map((state) => ({ labels: { queue, state }, value: c[state] ?? 0 })),
    );
  });
}

export function instrumentWorker(
  metrics: Metrics,
  {
    db,
    queues,
    shippingAnswerAlertAfterMs,
  }: {
    db: Db;
    queues: ShardedQueues;
    shippingAnswerAlertAfterMs: number;
  },
): WorkerMetricHooks {
  registerStateGauges(metrics, db, { shippingAnswerAlertAfterMs });
  registerQueueDepthGauge(metrics, queues);
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
