import type { Kafka, Producer } from 'kafkajs';
import { producerOptions, type KafkaSettings } from './kafka.js';
import type { Logger } from './logger.js';
import type { ShippingRequestPayload } from './outbox-events.js';

/**
 * Sends shipping requests to Kafka through one producer per process, connected once. kafkajs
 * reconnects a connected producer by itself after a broker loss; a send that fails anyway throws
 * and the shipping job retries with BullMQ's backoff.
 */
export interface ShippingProducer {
  send(request: ShippingRequestPayload): Promise<void>;
  /** Resolves when the producer is connected (readiness). */
  check(): Promise<void>;
  disconnect(): Promise<void>;
}

export function createShippingProducer(
  kafka: Kafka,
  cfg: KafkaSettings,
  logger: Logger,
): ShippingProducer {
  const producer: Producer = kafka.producer(producerOptions(cfg));
  let connected = false;
  let connecting: Promise<void> | undefined;
  producer.on(producer.events.CONNECT, () => {
    connected = true;
  });
  producer.on(producer.events.DISCONNECT, () => {
    connected = false;
    connecting = undefined;
  });

  const connect = () => {
    connecting ??= producer.connect().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    });
    return connecting;
  };

  return {
    async send(request) {
      await connect();
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
      logger.debug(
        { order_id: request.order_id, topic: cfg.requestsTopic },
        'shipping request sent',
      );
    },
    async check() {
      if (!connected) await connect();
    },
    async disconnect() {
      await producer.disconnect();
    },
  };
}
