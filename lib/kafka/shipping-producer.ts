import type { Kafka, Producer } from 'kafkajs';
import { producerOptions, type KafkaSettings } from './client.js';
import { ensureTopics, topicUnavailableError } from './topics.js';
import type { Logger } from '../platform/logger.js';
import type {
  CancellationRequestPayload,
  ShippingRequestPayload,
} from '../domain/outbox-events.js';

/** What this service asks of Shipping: to ship a paid order, or to cancel one. */
export type ShippingMessage = ShippingRequestPayload | CancellationRequestPayload;

/**
 * Sends shipping requests (and cancellation requests) to Kafka through one producer per process, connected once. kafkajs
 * reconnects a connected producer by itself after a broker loss; a send that fails anyway throws
 * and the shipping job retries with BullMQ's backoff.
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
  const producer: Producer = kafka.producer(producerOptions(cfg));
  // A producer has no ping and keeps saying "connected" after its broker is gone; readiness asks
  // a broker for the cluster's metadata instead, through an admin client that fails fast.
  const admin = kafka.admin({ retry: { retries: 0 } });
  let adminConnected: Promise<void> | undefined;
  let connecting: Promise<void> | undefined;
  producer.on(producer.events.DISCONNECT, () => {
    connecting = undefined;
  });

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

  return {
    async send(request) {
      await connect();
      await producer
        .send({
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
        })
        .catch((err: unknown) => {
          // The job's last_error then names the topic, not just "does not host this partition".
          throw topicUnavailableError(err, cfg.requestsTopic, 'shipping requests') ?? err;
        });
      logger.debug(
        { order_id: request.order_id, topic: cfg.requestsTopic, event_type: request.event_type },
        'shipping request sent',
      );
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
