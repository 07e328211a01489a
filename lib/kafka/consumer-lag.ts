import type { Admin, Kafka } from 'kafkajs';

/**
 * The consumer group's lag per partition: the topic's end offset minus the group's committed
 * offset (or minus the start offset where the group has committed nothing yet). kafkajs has no lag
 * API; its admin client reads both. Asked at most once per `minIntervalMs`, whatever the scrape
 * rate: between rounds the last answer is served.
 */
export interface PartitionLag {
  topic: string;
  partition: number;
  lag: number;
}

export interface ConsumerLagReader {
  read(): Promise<PartitionLag[]>;
  close(): Promise<void>;
}

export function consumerLagReader(
  kafka: Kafka,
  { groupId, topic, minIntervalMs }: { groupId: string; topic: string; minIntervalMs: number },
): ConsumerLagReader {
  const admin: Admin = kafka.admin({ retry: { retries: 1 } });
  let connected: Promise<void> | undefined;
  let last: { at: number; value: Promise<PartitionLag[]> } | undefined;

  async function fetchLag(): Promise<PartitionLag[]> {
    connected ??= admin.connect().catch((err: unknown) => {
      connected = undefined;
      throw err;
    });
    await connected;
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    const byPartition = new Map(committed?.partitions.map((p) => [p.partition, p.offset]));
    return ends.map((end) => {
      const done = Number(byPartition.get(end.partition) ?? '-1');
      const from = done >= 0 ? done : Number(end.low);
      return { topic, partition: end.partition, lag: Math.max(0, Number(end.high) - from) };
    });
  }

  return {
    read() {
      const now = Date.now();
      if (!last || now - last.at >= minIntervalMs) {
        const value = fetchLag();
        last = { at: now, value };
        // A failed round is not cached: the next scrape asks again.
        value.catch(() => {
          if (last?.value === value) last = undefined;
        });
      }
      return last.value;
    },
    async close() {
      if (connected) await admin.disconnect();
    },
  };
}
