import { type Database, type Db } from '../db/client.js';
import {
  ConfigError,
  directDatabaseUrl,
  paymentsRefundsUrl,
  type Config,
} from '../lib/platform/config.js';
import { type Logger } from '../lib/platform/logger.js';
import type { ReadinessChecks } from '../lib/platform/health.js';
import { type Metrics } from '../lib/platform/metrics.js';
import { createNotificationsClient } from '../lib/peers/notifications.js';
import { createPaymentsClient } from '../lib/peers/payments.js';
import type { PaymentCheckPolicy } from '../lib/domain/payment-checks.js';
import { createKafka } from '../lib/kafka/client.js';
import { createShippingProducer, type ShippingProducer } from '../lib/kafka/shipping-producer.js';
import { cancellationsProcessor } from './processors/cancellations.js';
import { inboxProcessor } from './processors/inbox.js';
import { notificationsProcessor } from './processors/notifications.js';
import { paymentChecksProcessor } from './processors/payment-checks.js';
import { paymentsProcessor } from './processors/payments.js';
import { refundsProcessor } from './processors/refunds.js';
import { shippingProcessor } from './processors/shipping.js';
import { webhooksProcessor } from './processors/webhooks.js';
import { createSubscribersClient } from '../lib/peers/subscribers.js';
import type { OutboxProcessor } from './outbox/run-job.js';
import { createQueueWorker, type QueueWorker } from './outbox/queue-worker.js';
import {
  createQueues,
  prefixOf,
  retryPolicyOf,
  shardConcurrency,
  type Queues,
  type QueueSet,
  type ShardedQueues,
} from './outbox/queues.js';
import { createReconciler, type Reconciler } from './outbox/reconciler.js';
import { createRelay, type Relay } from './outbox/relay.js';
import { createRetention, type Retention } from './retention.js';
import { redisReadinessCheck, redisTargetOf, type RedisClient } from './redis.js';
import { instrumentWorker } from './worker-metrics.js';

/**
 * What the `worker` process runs (its entry is jobs/worker.ts): the outbox relay, one BullMQ
 * worker per processor, the reconciler and retention. Wiring only; each piece lives in its own module.
 */
export interface WorkerDeps {
  logger: Logger;
  /** Owned and closed by the caller (the process runner, the dev mode, tests). */
  database: Database;
  /** Replaces the processor list (tests); by default: processorsFor(config, db). */
  processors?: OutboxProcessor[];
  /** When given: relay latency, job durations and failures, outbox lag and queue depths. */
  metrics?: Metrics;
  /** Called when a part cannot go on (a bug in the relay): the entry exits for a restart. */
  onFatal?: (err: Error) => void;
}

export interface RunningWorker {
  /** Each queue's first shard (the whole queue unless QUEUE_SHARDS_<QUEUE> splits it). */
  queues: Queues;
  shards: ShardedQueues;
  /** The queues with their connection, for a web process in the same process (the dev mode). */
  queueSet: QueueSet;
  /** The Kafka producer of shipping requests (absent when the caller chose the processors). */
  shipping?: ShippingProducer;
  /** The producer connection the queues share (readiness checks ping it). */
  redis: RedisClient;
  relay: Relay;
  reconciler: Reconciler;
  retention: Retention;
  workers: QueueWorker[];
  /** Stops taking work, lets running jobs finish within shutdownTimeoutMs, closes connections. */
  stop(): Promise<void>;
}

/** What the worker needs configured beyond the defaults; every gap named at once. */
function assertWorkerConfig(config: Config): void {
  const missing = [
    config.paymentsUrl ? undefined : 'PAYMENTS_SERVICE_API_URL: required by the worker',
    config.notificationsUrl ? undefined : 'NOTIFICATIONS_SERVICE_API_URL: required by the worker',
    config.kafka.brokers.length
      ? undefined
      : 'KAFKA_BOOTSTRAP_SERVERS or KAFKA_URL: required by the worker (shipping requests)',
  ].filter((p): p is string => p !== undefined);
  if (missing.length > 0) throw new ConfigError(missing);
}

/** The processors this process runs, one BullMQ worker each. */
export function processorsFor(
  config: Config,
  db: Db,
  shipping: ShippingProducer,
  metrics?: Metrics,
): OutboxProcessor[] {
  assertWorkerConfig(config);
  const peer = { timeoutMs: config.peerTimeoutMs, token: config.serviceToken };
  const payments = createPaymentsClient({
    ...peer,
    url: config.paymentsUrl!,
    refundsUrl: paymentsRefundsUrl(config),
    callbackUrl: config.paymentsCallbackUrl,
  });
  const policy = paymentCheckPolicyOf(config);
  return [
    paymentsProcessor(payments, db, policy),
    notificationsProcessor(createNotificationsClient({ ...peer, url: config.notificationsUrl! })),
    inboxProcessor(db),
    shippingProcessor(shipping),
    refundsProcessor(payments),
    cancellationsProcessor(shipping),
    paymentChecksProcessor(payments, db, policy),
    webhooksProcessorFor(config, db, metrics),
  ];
}

/** The webhooks processor as configured; tests that choose their processors use it too. */
export function webhooksProcessorFor(
  config: Pick<Config, 'jobs' | 'webhookTimeoutMs' | 'webhookAllowPrivateUrls'>,
  db: Db,
  metrics?: Metrics,
): OutboxProcessor {
  return webhooksProcessor({
    db,
    subscribers: createSubscribersClient({
      timeoutMs: config.webhookTimeoutMs,
      allowPrivate: config.webhookAllowPrivateUrls,
    }),
    retry: retryPolicyOf(config.jobs),
    onDisabled: (reason) => metrics?.webhookSubscriptionsDisabled.inc({ reason }),
  });
}

/** When payments are checked and expired, as configured. */
export function paymentCheckPolicyOf(config: Pick<Config, 'jobs'>): PaymentCheckPolicy {
  return {
    confirmAfterMs: config.jobs.paymentConfirmAfterMs,
    expireAfterMs: config.jobs.paymentExpireAfterMs,
    maxIntervalMs: config.jobs.paymentCheckMaxIntervalMs,
  };
}

export async function startWorker(config: Config, deps: WorkerDeps): Promise<RunningWorker> {
  const { logger } = deps;
  const { db } = deps.database;
  let processors: OutboxProcessor[];
  let shipping: ShippingProducer | undefined;
  if (deps.processors) {
    processors = deps.processors;
  } else {
    assertWorkerConfig(config);
    shipping = createShippingProducer(createKafka(config.kafka, logger), config.kafka, logger);
    processors = processorsFor(config, db, shipping, deps.metrics);
  }
  const queueSet = createQueues(config, logger);
  const { queues, shards } = queueSet;
  const { jobs } = config;
  const hooks =
    deps.metrics &&
    instrumentWorker(deps.metrics, {
      db,
      queues: shards,
      shippingAnswerAlertAfterMs: jobs.shippingAnswerAlertAfterMs,
    });

  const prefix = prefixOf(config);
  // One BullMQ worker per shard of each processor's queue.
  const workers = processors.flatMap((processor) =>
    shards[processor.queue].map((shard) =>
      createQueueWorker({
        processor,
        db,
        queues: shards,
        logger,
        redis: redisTargetOf(config),
        queueName: shard.name,
        prefix: prefix(shard.name),
        concurrency: shardConcurrency(
          jobs.concurrency[processor.queue],
          shards[processor.queue].length,
        ),
        retry: retryPolicyOf(jobs),
        onOutcome: hooks?.onOutcome,
      }),
    ),
  );
  const relay = createRelay({
    db,
    databaseUrl: directDatabaseUrl(config),
    queues: shards,
    logger,
    batchSize: jobs.relayBatchSize,
    pollMs: jobs.relayPollMs,
    onEnqueued: hooks?.onEnqueued,
    onFatal: deps.onFatal,
  });
  const reconciler = createReconciler({
    db,
    queues: shards,
    logger,
    afterMs: jobs.reconcileAfterMs,
    everyMs: jobs.reconcileEveryMs,
  });
  const retention = createRetention({
    db,
    logger,
    ageHours: jobs.retentionAgeHours,
    everyMs: jobs.retentionEveryMs,
    batchSize: jobs.retentionBatchSize,
  });

  await Promise.all(workers.map(({ worker }) => worker.waitUntilReady()));
  await relay.start();
  reconciler.start();
  retention.start();
  logger.info({ queues: workers.map(({ worker }) => worker.name) }, 'worker started');

  let stopping: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    await Promise.all([relay.stop(), reconciler.stop(), retention.stop()]);
    await Promise.all(workers.map((w) => w.close(deadline - Date.now())));
    await queueSet.close();
    await shipping?.disconnect();
    logger.info('worker stopped');
  }
  return {
    queues,
    shards,
    queueSet,
    shipping,
    redis: queueSet.connection,
    relay,
    reconciler,
    retention,
    workers,
    stop: () => (stopping ??= shutdown()),
  };
}

/** What the worker's /health/ready checks: its Postgres pool, its Redis, its Kafka producer. */
export function workerReadiness(
  running: RunningWorker,
  database: Database,
  logger: Logger,
): ReadinessChecks {
  return {
    postgres: () => database.ping(),
    redis: redisReadinessCheck(running.redis, logger),
    kafka: async () => {
      await running.shipping?.check();
    },
  };
}
