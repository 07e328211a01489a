import type { ShippingProducer } from '../../lib/kafka/shipping-producer.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/** Asks Shipping to cancel a paid order: one Kafka message on the requests topic, key = order id. */
export function cancellationsProcessor(
  producer: ShippingProducer,
): OutboxProcessor<'cancellations'> {
  return {
    queue: 'cancellations',
    async handle({ payload }) {
      await producer.send(payload);
    },
  };
}
