import type { Kafka, Producer } from 'kafkajs';
import { producerOptions, type KafkaSettings } from './client.js';
import { ensureTopics, topicUnavailableError } from './topics.js';
import type { Logger } from '../platform/logger.js';
import type { CancellationRequestPayload, ShippingRequestPayload } from '../../db/outbox/events.js';

/** What this service asks of Shipping: to ship a paid order, or to cancel one. */
export type ShippingMessage = ShippingRequestPayload | CancellationRequestPayload;

/**
 * Sends shipping requests (and cancellation requests) to Kafka through one producer per process, connected once. kafkajs
 * reconnects a connected producer by itself after a broker loss; a send that fails anyway throws
 * and the shipping job retries with BullMQ's backoff.
 *
 * One send at a time, and a new idempotent producer after a send failed. kafkajs (2.2.4) gives a
 * partition's sequence number back when a produce request fails, even one the broker may have
 * written before its answer was lost (a leader killed mid-request), and the next produce to that
 * partition takes it. Were that a different request (a concurrent send, or the next job after this
 * one gave up), the broker would take it for the duplicate of the written one: acknowledged, not
 * written, its order never shipped; and the first written twice when its job retries. With one
 * send in flight, only kafkajs's own retry of the same messages reuses the number; after a send
 * that failed for good, a new producer id starts the numbers afresh (the failed request, if it
 * was written, is then written again by its job's retry: Shipping deduplicates by idempotency key).
 */
export interface ShippingProducer {
  send(request: ShippingMessage): Promise<void>;
  /** Resolves when a broker answers a metadata request (readiness). */
  check(): Promise<void>;
  disconnect(): Promise<void>;
}

export function createShippingProducer(
  kafka: Kafka,
  cfg: KafkaSettings,
  logger: Logger,
): ShippingProducer {
  // A producer has no ping and keeps saying "connected" after its broker is gone; readiness asks
  // a broker for the cluster's metadata instead, through an admin client that fails fast.
  const admin = kafka.admin({ retry: { retries: 0 } });
  let adminConnected: Promise<void> | undefined;
  let connecting: Promise<void> | undefined;
  let producer = newProducer();
  /** The send in flight, if any; the next one waits for it. */
  let previous: Promise<unknown> = Promise.resolve();

  function newProducer(): Producer {
    const created = kafka.producer(producerOptions(cfg));
    created.on(created.events.DISCONNECT, () => {
      if (producer === created) connecting = undefined;
    });
    return created;
  }

  const connect = () => {
    // The topic first: Apache Kafka would auto-create it on the first send only where
    // auto.create.topics.enable is on, with whatever defaults the broker has.
    connecting ??= ensureTopics(kafka, [cfg.requestsTopic], logger)
      .then(() => producer.connect())
      .catch((err: unknown) => {
        connecting = undefined;
        throw err;
      });
    return connecting;
  };

  async function sendNow(request: ShippingMessage): Promise<void> {
    await connect();
    try {
      await producer.send({
        topic: cfg.requestsTopic,
        acks: -1,
        messages: [
          {
            // Key = order id: one order's messages stay in one partition, in order.
            key: request.order_id,
            value: JSON.stringify(request),
            headers: {
              'idempotency-key': request.idempotency_key,
              'event-type': request.event_type,
            },
          },
        ],
      });
    } catch (err) {
      if (cfg.idempotent) {
        const failed = producer;
        producer = newProducer();
        connecting = undefined;
        failed.disconnect().catch((disconnectErr: unknown) => {
          logger.warn({ err: disconnectErr }, 'could not disconnect the replaced producer');
        });
        logger.warn(
          { err, order_id: request.order_id },
          'shipping request not sent; the next send uses a new idempotent producer',
        );
      }
      // The job's last_error then names the topic, not just "does not host this partition".
      throw topicUnavailableError(err, cfg.requestsTopic, 'shipping requests') ?? err;
    }
    logger.debug(
      { order_id: request.order_id, topic: cfg.requestsTopic, event_type: request.event_type },
      'shipping request sent',
    );
  }

  return {
    async send(request) {
      // Outside the line too: while Kafka is unreachable, waiting sends share one connection
      // attempt and fail together, not one after another.
      await connect();
      const sending = previous.then(() => sendNow(request));
      // Only the line's order is kept here; the caller gets this send's error through `sending`.
      previous = sending.catch(() => undefined);
      return sending;
    },
    async check() {
      adminConnected ??= admin.connect().catch((err: unknown) => {
        adminConnected = undefined;
        throw err;
      });
      await adminConnected;
      // The cluster, not the topic: a topic not created yet is made on the first send.
      await admin.describeCluster();
    },
    async disconnect() {
      await producer.disconnect();
      if (adminConnected) await admin.disconnect();
    },
  };
}
