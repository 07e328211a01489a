/**
 * Fetch v11, with Kafka's long poll: when fewer than min_bytes are ready, the request waits up to
 * max_wait_time and is answered the moment a produce brings enough. An idle consumer therefore
 * costs one round trip per max_wait_time instead of spinning, and a new message reaches a waiting
 * consumer without delay. Fetch sessions (KIP-227) are not kept: every fetch is a full one.
 */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';

interface PartitionFetch {
  partition: number;
  fetchOffset: number;
  maxBytes: number;
}

interface TopicFetch {
  topic: string;
  partitions: PartitionFetch[];
}

interface PartitionData {
  partition: number;
  errorCode: number;
  highWatermark: number;
  logStartOffset: number;
  batches: Buffer[];
}

interface Collected {
  topics: { topic: string; partitions: PartitionData[] }[];
  bytes: number;
  hasError: boolean;
}

export function fetchHandler(broker: Broker): ApiHandler {
  const { topics } = broker;

  /** What is ready to send now for the requested partitions, within the size limits. */
  const collect = (requested: TopicFetch[], maxBytes: number): Collected => {
    let bytes = 0;
    let hasError = false;
    const result = requested.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, fetchOffset, maxBytes: partitionMax }) => {
        const log = topics.partition(topic, partition);
        const data: PartitionData = {
          partition,
          errorCode: ErrorCode.NONE,
          highWatermark: -1,
          logStartOffset: -1,
          batches: [],
        };
        if (!log) {
          hasError = true;
          return { ...data, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        }
        data.highWatermark = log.highWatermark;
        data.logStartOffset = log.logStartOffset;
        if (fetchOffset < log.logStartOffset || fetchOffset > log.highWatermark) {
          hasError = true;
          return { ...data, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
        }
        data.batches = log.read(fetchOffset, Math.min(partitionMax, maxBytes - bytes), bytes === 0);
        for (const b of data.batches) bytes += b.length;
        return data;
      }),
    }));
    return { topics: result, bytes, hasError };
  };

  const encode = ({ topics: collected }: Collected): Encoder => {
    broker.stats.fetchResponses++;
    return new Encoder()
      .writeInt32(0) // throttle_time_ms
      .writeInt16(ErrorCode.NONE)
      .writeInt32(0) // session_id: no fetch session
      .writeArray(
        collected.map(({ topic, partitions }) =>
          new Encoder().writeString(topic).writeArray(
            partitions.map((p) => {
              const out = new Encoder()
                .writeInt32(p.partition)
                .writeInt16(p.errorCode)
                .writeInt64(p.highWatermark)
                .writeInt64(p.highWatermark) // last_stable_offset: no transactions
                .writeInt64(p.logStartOffset)
                .writeArray([]) // aborted_transactions
                .writeInt32(-1) // preferred_read_replica: this one
                .writeInt32(p.batches.reduce((n, b) => n + b.length, 0));
              for (const batch of p.batches) out.writeBuffer(batch);
              return out;
            }),
          ),
        ),
      );
  };

  return {
    apiKey: ApiKey.Fetch,
    name: 'Fetch',
    minVersion: 11,
    maxVersion: 11,
    waits: true,
    handle(request, { signal, logger }) {
      request.readInt32(); // replica_id
      const maxWaitTime = request.readInt32();
      const minBytes = request.readInt32();
      const maxBytes = request.readInt32();
      request.readInt8(); // isolation_level: nothing is uncommitted here
      request.readInt32(); // session_id
      request.readInt32(); // session_epoch
      const requested = request.readArray((t): TopicFetch => ({
        topic: readRequiredString(t),
        partitions: t.readArray((p) => {
          const partition = p.readInt32();
          p.readInt32(); // current_leader_epoch
          const fetchOffset = Number(p.readInt64());
          p.readInt64(); // log_start_offset: only followers send one
          return { partition, fetchOffset, maxBytes: p.readInt32() };
        }),
      }));
      // forgotten_topics_data and rack_id only matter to fetch sessions and replica selection.

      const ready = collect(requested, maxBytes);
      if (ready.bytes >= minBytes || ready.hasError || maxWaitTime <= 0) return encode(ready);

      if (signal.aborted) return null;
      const wanted = new Set(requested.map((t) => t.topic));
      return new Promise<Encoder | null>((resolve) => {
        const finish = (answer: Collected | null) => {
          clearTimeout(timer);
          unsubscribe();
          signal.removeEventListener('abort', onClose);
          resolve(answer && encode(answer));
        };
        const onClose = () => finish(null);
        const timer = setTimeout(() => finish(collect(requested, maxBytes)), maxWaitTime);
        const unsubscribe = topics.subscribe((topic) => {
          if (!wanted.has(topic)) return;
          const now = collect(requested, maxBytes);
          if (now.bytes >= minBytes || now.hasError) finish(now);
        });
        signal.addEventListener('abort', onClose, { once: true });
        logger.debug({ max_wait_time: maxWaitTime, min_bytes: minBytes }, 'Fetch waiting for data');
      });
    },
  };
}
