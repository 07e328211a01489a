import client from 'prom-client';

/**
 * Prometheus metrics of one process. Each process type makes one set and registers what it
 * has: counters and histograms are fed by the code that sees the events; gauges that describe
 * Postgres or Redis state are read at scrape time by collectors, so they cost nothing between
 * scrapes.
 */
export interface Metrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  jobDuration: client.Histogram<'queue' | 'outcome'>;
  jobFailures: client.Counter<'queue' | 'kind'>;
  commitToEnqueue: client.Histogram;
  relayed: client.Counter<'queue'>;
  shippingMessages: client.Counter<'outcome'>;
  /** Order webhook subscriptions the worker disabled: `gone` (a 410) or `retry_window`. */
  webhookSubscriptionsDisabled: client.Counter<'reason'>;
  /** Adds a gauge whose value is read from `read` at every scrape (once per name). */
  gauge(name: string, help: string, labelNames: string[], read: GaugeReader): void;
}

export type GaugeReader = () => Promise<{ labels?: Record<string, string>; value: number }[]>;

export function createMetrics({ defaults = true }: { defaults?: boolean } = {}): Metrics {
  const registry = new client.Registry();
  if (defaults) client.collectDefaultMetrics({ register: registry });
  const fast = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    httpDuration: new client.Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: fast,
      registers: [registry],
    }),
    jobDuration: new client.Histogram({
      name: 'job_duration_seconds',
      help: 'Time a queue processor spent on one job, by queue and outcome',
      labelNames: ['queue', 'outcome'],
      buckets: fast,
      registers: [registry],
    }),
    jobFailures: new client.Counter({
      name: 'job_failures_total',
      help: 'Failed job attempts by queue and kind (retry, rate-limited, failed)',
      labelNames: ['queue', 'kind'],
      registers: [registry],
    }),
    commitToEnqueue: new client.Histogram({
      name: 'outbox_commit_to_enqueue_seconds',
      help: 'Time from an outbox row being written to its job being in BullMQ',
      buckets: fast,
      registers: [registry],
    }),
    relayed: new client.Counter({
      name: 'outbox_relayed_total',
      help: 'Outbox rows handed to BullMQ, by queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    shippingMessages: new client.Counter({
      name: 'shipping_messages_total',
      help: 'Shipping-response messages by outcome (recorded, duplicate, skipped, dead_lettered)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    webhookSubscriptionsDisabled: new client.Counter({
      name: 'webhook_subscriptions_disabled_total',
      help: 'Webhook subscriptions disabled by the worker, by reason (gone: a 410; retry_window: failing for the whole retry window)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    gauge(name, help, labelNames, read) {
      // Processes sharing one registry (the dev mode runs web and worker together) register the
      // same state gauges once.
      if (registry.getSingleMetric(name)) return;
      new client.Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          this.reset();
          for (const { labels, value } of await read()) {
            if (labels) this.set(labels, value);
            else this.set(value);
          }
        },
      });
    },
  };
}
