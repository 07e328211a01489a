/**
 * The Procfile's `consumer` entry: a kafkajs consumer group on the shipping-responses topic.
 * Each message is taken in (inbox row + outbox row, or a dead letter) before its offset is
 * resolved, so an offset is only ever committed after the database commit. A database outage
 * holds the partition (retrying with backoff, heartbeating) instead of skipping a message.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachMessagePayload, Kafka } from 'kafkajs';
import { createDatabase, type Database } from '../db/client.js';
import { loadConfigOrExit, type Config } from '../lib/platform/config.js';
import { consumerOptions, createKafka, ensureTopics } from '../lib/kafka/client.js';
import { createLogger, type Logger } from '../lib/platform/logger.js';
import { isMain } from '../lib/platform/main.js';
import { createMetrics, type Metrics } from '../lib/platform/metrics.js';
import { withinMs } from '../lib/platform/shutdown.js';
import { recordShippingResult } from '../lib/orders/record-shipping-result.js';
import { serveUntilSignalled } from './health-server.js';

export interface ShippingConsumerDeps {
  logger: Logger;
  database?: Database;
  kafka?: Kafka;
  metrics?: Metrics;
  /** Consumer settings (tests shorten session timeouts). */
  consumer?: {
    sessionTimeout?: number;
    heartbeatInterval?: number;
    rebalanceTimeout?: number;
    maxWaitTimeInMs?: number;
  };
  /** Called when the consumer crashed for good: the entry exits so the platform restarts it. */
  onFatal?: (err: Error) => void;
}

export interface RunningShippingConsumer {
  consumer: Consumer;
  /** True while the consumer is a member of its group. */
  isReady(): boolean;
  stop(): Promise<void>;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

export async function startShippingConsumer(
  config: Config,
  deps: ShippingConsumerDeps,
): Promise<RunningShippingConsumer> {
  const logger = deps.logger.child({ component: 'shipping-consumer' });
  const database =
    deps.database ?? createDatabase({ url: config.databaseUrl, max: config.dbPoolMax, logger });
  const kafka = deps.kafka ?? createKafka(config.kafka, logger);
  const metrics = deps.metrics;
  // A short fetch wait: a broker answers as soon as data arrives anyway, and disconnect() waits
  // for the fetch in flight, so this bounds shutdown.
  const consumer = kafka.consumer({
    ...consumerOptions(config.kafka),
    maxWaitTimeInMs: 1000,
    ...deps.consumer,
  });
  let stopping = false;
  let member = false;

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    member = true;
    logger.info(
      { memberId: e.payload.memberId, assignment: e.payload.memberAssignment },
      'joined consumer group',
    );
  });
  consumer.on(consumer.events.DISCONNECT, () => {
    member = false;
  });
  consumer.on(consumer.events.CRASH, (e) => {
    member = false;
    const { error, restart } = e.payload;
    logger.error({ err: error, restart }, 'consumer crashed');
    if (!restart && !stopping) deps.onFatal?.(error);
  });

  async function handle({
    topic,
    partition,
    message,
    heartbeat,
  }: EachMessagePayload): Promise<void> {
    const position = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString('utf8') ?? null,
    };
    const value = message.value?.toString('utf8') ?? null;
    const log = logger.child(position);
    for (let attempt = 0; ; attempt++) {
      try {
        const taken = await recordShippingResult(database.db, position, value);
        metrics?.shippingMessages.inc({ outcome: taken.outcome });
        if (taken.outcome === 'dead_lettered')
          log.warn({ reason: taken.reason }, 'shipping message dead-lettered');
        else if (taken.outcome === 'skipped')
          log.debug({ reason: taken.reason }, 'shipping message skipped');
        else
          log.info(
            { order_id: taken.orderId, inbox_id: taken.inboxId, outcome: taken.outcome },
            'shipping result taken in',
          );
        return;
      } catch (err) {
        // Not the message's fault (that would have been dead-lettered): Postgres is unreachable or
        // failing. Hold this partition and try again; throwing would make kafkajs restart the
        // consumer and, after its retries, give up on the message.
        if (stopping) throw err;
        const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
        log.warn(
          { err, attempt: attempt + 1, wait_ms: wait },
          'could not take shipping message in; retrying',
        );
        await sleep(wait);
        await heartbeat();
      }
    }
  }

  await ensureTopics(kafka, [config.kafka.responsesTopic], logger);
  await consumer.connect();
  await consumer.subscribe({ topic: config.kafka.responsesTopic, fromBeginning: true });
  await consumer.run({ partitionsConsumedConcurrently: 4, eachMessage: handle });
  logger.info(
    { topic: config.kafka.responsesTopic, group: config.kafka.groupId },
    'shipping consumer running',
  );

  return {
    consumer,
    isReady: () => member,
    async stop() {
      stopping = true;
      // disconnect() lets the current message finish, commits resolved offsets and leaves the group.
      await withinMs(consumer.disconnect(), Math.max(1000, config.shutdownTimeoutMs - 2000), () => {
        logger.warn('consumer did not disconnect within the bound');
      });
      if (!deps.database) await database.close();
    },
  };
}

if (isMain(import.meta.url)) {
  const config = loadConfigOrExit();
  const logger = createLogger({ name: 'consumer', level: config.logLevel });
  const metrics = createMetrics();
  const database = createDatabase({ url: config.databaseUrl, max: config.dbPoolMax, logger });
  startShippingConsumer(config, {
    logger,
    database,
    metrics,
    onFatal: (err) => {
      logger.fatal({ err }, 'consumer cannot go on; exiting for a restart');
      process.exit(1);
    },
  }).then(
    (running) =>
      serveUntilSignalled({
        config,
        logger,
        metrics,
        checks: {
          postgres: () => database.ping(),
          kafka: async () => {
            if (!running.isReady()) throw new Error('not a member of the consumer group');
          },
        },
        running,
        database,
      }),
    (err: unknown) => {
      logger.fatal({ err }, 'consumer failed to start');
      process.exit(1);
    },
  );
}
