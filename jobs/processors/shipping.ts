import type { ShippingProducer } from '../../lib/kafka/shipping-producer.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/** Registers a paid order with Shipping: one Kafka message, key = order id. */
export function shippingProcessor(producer: ShippingProducer): OutboxProcessor<'shipping'> {
  return {
    queue: 'shipping',
    async handle({ payload }) {
      await producer.send(payload);
    },
  };
}
