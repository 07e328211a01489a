import { expect } from 'chai';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { FAST_CONSUMER, uniqueName } from '../../scripts/testkit/kafka.js';
import { waitFor } from '../../scripts/testkit/wait.js';

/**
 * The messages of `topic` from its beginning, read as Shipping reads the service's requests: by a
 * group of its own (named from `group`), until at least `count` came (rejects after `timeoutMs`).
 */
export async function readFromStart(
  kafka: Kafka,
  topic: string,
  {
    count = 1,
    group,
    what,
    timeoutMs = 15000,
  }: { count?: number; group: string; what: string; timeoutMs?: number },
): Promise<KafkaMessage[]> {
  const received: KafkaMessage[] = [];
  const reader = kafka.consumer({ groupId: uniqueName(group), ...FAST_CONSUMER });
  await reader.connect();
  try {
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => void received.push(message) });
    await waitFor(() => received.length >= count, { timeoutMs, what });
  } finally {
    await reader.disconnect();
  }
  return received;
}

/** `received` is one shipping request: the order's, keyed by its id, for its item and quantity. */
export function expectOneRequestFor(
  received: KafkaMessage[],
  order: { id: string; itemId: string; quantity: number },
): void {
  expect(received).to.have.length(1);
  expect(received[0]!.key?.toString()).to.equal(order.id);
  expect(JSON.parse(received[0]!.value!.toString())).to.deep.include({
    event_type: 'order.paid',
    order_id: order.id,
    item_id: order.itemId,
    quantity: order.quantity,
  });
}
