import {
  startShippingConsumer,
  type RunningShippingConsumer,
} from '../../jobs/start-shipping-consumer.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { startShippingPeer, type ShippingPeer } from '../../scripts/peers/shipping.js';
import type { TestDatabase } from '../../scripts/testkit/database.js';
import type { uniqueKafkaNames } from '../../scripts/testkit/kafka.js';
import type { TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { storesEnv, testConfig } from './api.js';

/** The shipping path of the service on a Kafka of the test's: Shipping, the consumer, the worker. */
export interface ShippingPath {
  shipping: ShippingPeer;
  consumer: RunningShippingConsumer;
  worker: RunningWorker;
  /** Stops the worker, the consumer and Shipping, in that order. */
  stop(): Promise<void>;
}

export interface ShippingPathOptions {
  db: TestDatabase;
  redis: TestRedisPrefix;
  /** Stands for Payments and Notifications. */
  peer: { url: string };
  brokers: string[];
  names: ReturnType<typeof uniqueKafkaNames>;
  /** The consumers' session timeout (service and Shipping): how long a dead member holds on. */
  sessionTimeoutMs: number;
  /** The consumer's fatal errors, for the test to check there were none. */
  onFatal(err: Error): void;
}

/**
 * Starts the development Shipping peer (answering at once), the shipping consumer and the worker on
 * `names`' topics and groups, the worker retrying after 100 ms and each stopping within 3 s. What
 * started before a start fails is stopped again.
 */
export async function startShippingPath(options: ShippingPathOptions): Promise<ShippingPath> {
  const { db, redis, peer, brokers, names, sessionTimeoutMs, onFatal } = options;
  const config = testConfig({
    ...storesEnv(db, redis),
    PAYMENTS_SERVICE_API_URL: peer.url,
    NOTIFICATIONS_SERVICE_API_URL: peer.url,
    KAFKA_BOOTSTRAP_SERVERS: brokers.join(','),
    ...names.env,
    KAFKA_SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
    JOB_BACKOFF_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '3000',
  });
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    while (started.length) await started.pop()!.stop();
  };
  try {
    const shipping = await startShippingPeer({
      brokers,
      ...names.shippingPeer,
      delayMs: 0,
      sessionTimeout: sessionTimeoutMs,
      logger: silentLogger(),
    });
    started.push(shipping);
    const consumer = await startShippingConsumer(config, {
      logger: silentLogger(),
      database: db,
      onFatal,
    });
    started.push(consumer);
    const worker = await startWorker(config, { logger: silentLogger(), database: db });
    started.push(worker);
    return { shipping, consumer, worker, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
