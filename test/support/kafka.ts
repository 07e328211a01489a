import type { Kafka, KafkaMessage } from 'kafkajs';
import { FAST_CONSUMER, uniqueName } from '../../scripts/testkit/kafka.js';
import { waitFor } from '../../scripts/testkit/wait.js';

/**
 * The messages of `topic` from its beginning, read as Shipping reads the service's requests: by a
 * group of its own (named from `group`), until at least `count` came (rejects after 15 s).
 */
export async function readFromStart(
  kafka: Kafka,
  topic: string,
  { count = 1, group, what }: { count?: number; group: string; what: string },
): Promise<KafkaMessage[]> {
  const received: KafkaMessage[] = [];
  const reader = kafka.consumer({ groupId: uniqueName(group), ...FAST_CONSUMER });
  await reader.connect();
  try {
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => void received.push(message) });
    await waitFor(() => received.length >= count, { timeoutMs: 15000, what });
  } finally {
    await reader.disconnect();
  }
  return received;
}
