/**
 * What the `consumer` process runs (its entry is jobs/shipping-consumer.ts): a kafkajs consumer
 * group on the shipping-responses topic.
 * Each message is taken in (inbox row + outbox row, or a dead letter) before its offset is
 * resolved, so an offset is only ever committed after the database commit. A database outage
 * holds the partition (retrying with backoff, heartbeating) instead of skipping a message; what
 * retrying cannot cure (a bug, data Postgres refuses) does not: that message becomes a dead letter
 * naming the cause.
 * A hold is watched: shipping_consumer_held_seconds{partition} shows how long each partition's
 * current message has been retried, and the `partitions` readiness check turns red once one has been
 * retried longer than KAFKA_HOLD_ALERT_AFTER_MS, so no response waits unseen behind a failure
 * nobody named (classifyFailure retries those).
 */
import type { Consumer, EachMessagePayload, Kafka } from 'kafkajs';
import { type Database } from '../db/client.js';
import { type Config } from '../lib/platform/config.js';
import { consumerOptions, createKafka } from '../lib/kafka/client.js';
import { consumerLagReader } from '../lib/kafka/consumer-lag.js';
import { ensureTopics, topicUnavailableError } from '../lib/kafka/topics.js';
import { CheckDown, type ReadinessChecks } from '../lib/platform/health.js';
import { type Logger } from '../lib/platform/logger.js';
import { type Metrics } from '../lib/platform/metrics.js';
import {
  classifyFailure,
  incurableReason,
  programmingErrorIn,
  retry,
  type Backoff,
} from '../lib/platform/retry.js';
import { withinMs } from '../lib/platform/timeout.js';
import {
  keepAsDeadLetter,
  recordShippingResult,
  type RecordShippingOutcome,
} from '../lib/orders/record-shipping-result.js';

export interface ShippingConsumerDeps {
  logger: Logger;
  /** Owned and closed by the caller (the process runner, the dev mode, tests). */
  database: Database;
  kafka?: Kafka;
  metrics?: Metrics;
  /** Consumer settings (tests shorten session timeouts). */
  consumer?: {
    sessionTimeout?: number;
    heartbeatInterval?: number;
    rebalanceTimeout?: number;
    maxWaitTimeInMs?: number;
  };
  /** Least time between two reads of the group's lag (kafka_consumer_lag). @defaultValue 15000 */
  lagIntervalMs?: number;
  /** Called when the consumer crashed for good: the entry exits so the platform restarts it. */
  onFatal?: (err: Error) => void;
}

export interface RunningShippingConsumer {
  consumer: Consumer;
  /**
   * The process's readiness checks of the consumer: `kafka` (a member of its group) and
   * `partitions` (no message retried past KAFKA_HOLD_ALERT_AFTER_MS).
   */
  readiness: ReadinessChecks;
  stop(): Promise<void>;
}

/** While Postgres fails: each wait stays well inside the session timeout between heartbeats. */
const HOLD_BACKOFF: Backoff = { minMs: 200, maxMs: 5000 };

export async function startShippingConsumer(
  config: Config,
  deps: ShippingConsumerDeps,
): Promise<RunningShippingConsumer> {
  const logger = deps.logger.child({ component: 'shipping-consumer' });
  const database = deps.database;
  const kafka = deps.kafka ?? createKafka(config.kafka, logger);
  const metrics = deps.metrics;
  // A short fetch wait: a broker answers as soon as data arrives anyway, and disconnect() waits
  // for the fetch in flight, so this bounds shutdown.
  const consumer = kafka.consumer({
    ...consumerOptions(config.kafka),
    maxWaitTimeInMs: 1000,
    ...deps.consumer,
  });
  const stopping = new AbortController();
  let member = false;
  /**
   * Per partition assigned or handled: the current message's offset and when its first try failed,
   * while it is being retried.
   */
  const holds = new Map<number, { offset: string; sinceMs: number } | undefined>();
  const heldSeconds = (hold: { sinceMs: number } | undefined, now: number) =>
    hold ? (now - hold.sinceMs) / 1000 : 0;

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    member = true;
    const assigned = new Set(e.payload.memberAssignment[config.kafka.responsesTopic] ?? []);
    for (const p of holds.keys()) if (!assigned.has(p)) holds.delete(p);
    for (const p of assigned) if (!holds.has(p)) holds.set(p, undefined);
    logger.info(
      { member_id: e.payload.memberId, assignment: e.payload.memberAssignment },
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
    if (!restart && !stopping.signal.aborted) deps.onFatal?.(error);
  });

  async function handle(payload: EachMessagePayload): Promise<void> {
    try {
      await takeIn(payload);
    } finally {
      // Taken in, dead-lettered, or left for a redelivery (stopping, a rebalance): not held here.
      holds.set(payload.partition, undefined);
    }
  }

  async function takeIn({
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
    // Only unavailability is retried (classifyFailure): Postgres unreachable or shutting down.
    // Hold this partition and try again, heartbeating; throwing would make kafkajs restart the
    // consumer and, after its retries, give up on the message.
    const holdingPartition = <T>(step: () => Promise<T>) =>
      retry(step, {
        backoff: HOLD_BACKOFF,
        signal: stopping.signal,
        permanent: (err) => classifyFailure(err) === 'incurable',
        onRetry: async (err, attempt) => {
          if (!holds.get(partition))
            holds.set(partition, { offset: message.offset, sinceMs: Date.now() });
          log.warn({ err, attempt }, 'could not take shipping message in; retrying');
          await heartbeat();
        },
      });
    /**
     * Keeps the message as a dead letter. If even that fails in a way retrying cannot cure, the
     * letter's own text is the likely cause (the key and value are the only parts that come from
     * the message): keep the position and the reason alone, and the value stays readable in
     * Kafka at that offset. If that fails too, the dead-letter table itself is broken, for every
     * message alike: neither taken in nor kept, the offset must not move, so exit for a restart.
     */
    const keepAsLetter = async (reason: string): Promise<RecordShippingOutcome> => {
      try {
        return await holdingPartition(() => keepAsDeadLetter(database.db, position, value, reason));
      } catch (keepErr) {
        if (classifyFailure(keepErr) !== 'incurable') throw keepErr;
        log.error({ err: keepErr }, 'could not keep the dead letter; keeping its position only');
        const bare = `${reason}; key and value not kept (${incurableReason(keepErr)}): read them from Kafka at this offset`;
        try {
          return await holdingPartition(() =>
            keepAsDeadLetter(database.db, { ...position, key: null }, null, bare),
          );
        } catch (bareErr) {
          if (classifyFailure(bareErr) === 'incurable')
            deps.onFatal?.(programmingErrorIn(bareErr) ?? toError(bareErr));
          throw bareErr;
        }
      }
    };
    let taken: RecordShippingOutcome;
    try {
      taken = await holdingPartition(() => recordShippingResult(database.db, position, value));
    } catch (err) {
      // Stopping, or a heartbeat cut short by a rebalance: kafkajs redelivers the message.
      if (classifyFailure(err) !== 'incurable') throw err;
      // A bug, or data Postgres refuses, fails the same way on every try: retrying would hold the
      // partition for ever. The message is kept as a dead letter with the reason, for a replay
      // after the fix, and the partition moves on: a message never holds its partition because of
      // its own content.
      const bug = programmingErrorIn(err);
      log.error(
        { err: bug ?? err },
        bug
          ? 'bug while taking a shipping message in; dead-lettering it'
          : 'shipping message refused for its content; dead-lettering it',
      );
      taken = await keepAsLetter(`not taken in, ${incurableReason(err)}`);
    }
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
  }

  const topic = config.kafka.responsesTopic;
  try {
    await ensureTopics(kafka, [topic], logger);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true }).catch((err: unknown) => {
      throw topicUnavailableError(err, topic, 'shipping responses') ?? err;
    });
    await consumer.run({ partitionsConsumedConcurrently: 4, eachMessage: handle });
  } catch (err) {
    // A start that failed leaves no connection behind for the caller to find.
    await consumer
      .disconnect()
      .catch((disconnectErr: unknown) =>
        logger.warn({ err: disconnectErr }, 'could not disconnect after a failed start'),
      );
    throw err;
  }
  logger.info({ topic, group: config.kafka.groupId }, 'shipping consumer running');
  const lag = consumerLagReader(kafka, {
    groupId: config.kafka.groupId,
    topic,
    minIntervalMs: deps.lagIntervalMs ?? 15_000,
  });
  metrics?.gauge(
    'shipping_consumer_held_seconds',
    "Seconds the shipping consumer has retried each partition's current message (0: not held)",
    ['partition'],
    async () => {
      const now = Date.now();
      return [...holds].map(([partition, hold]) => ({
        labels: { partition: String(partition) },
        value: heldSeconds(hold, now),
      }));
    },
  );
  metrics?.gauge(
    'kafka_consumer_lag',
    'Messages not yet consumed by the shipping consumer group, per partition (end - committed)',
    ['topic', 'partition'],
    async () =>
      (await lag.read()).map((p) => ({
        labels: { topic: p.topic, partition: String(p.partition) },
        value: p.lag,
      })),
  );

  return {
    consumer,
    readiness: {
      kafka: async () => {
        if (!member) throw new Error('not a member of the consumer group');
      },
      partitions: async () => {
        const now = Date.now();
        const bound = config.kafka.holdAlertAfterMs;
        const over = [...holds]
          .filter(([, hold]) => hold && now - hold.sinceMs > bound)
          .map(
            ([partition, hold]) =>
              `partition ${partition} offset ${hold!.offset} for ${Math.round(heldSeconds(hold, now))} s`,
          );
        // The failure itself is in the warn logs ('could not take shipping message in; retrying'):
        // it can hold hosts and data, and this answer is open to anyone who reaches the process.
        if (over.length)
          throw new CheckDown(
            `retrying a message past KAFKA_HOLD_ALERT_AFTER_MS (${bound} ms): ${over.join(', ')}`,
          );
      },
    },
    async stop() {
      stopping.abort();
      // disconnect() lets the current message finish, commits resolved offsets and leaves the group.
      await withinMs(consumer.disconnect(), Math.max(1000, config.shutdownTimeoutMs - 2000), () => {
        logger.warn('consumer did not disconnect within the bound');
      });
      await lag.close().catch((err: unknown) => logger.warn({ err }, 'lag admin close failed'));
    },
  };
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
