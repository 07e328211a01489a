/** ListOffsets v3: timestamp -1 asks for the latest offset (the high watermark), -2 for the
 * earliest, anything else for the first record at or after that time. */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';

const LATEST = -1;
const EARLIEST = -2;

export function listOffsetsHandler(broker: Broker): ApiHandler {
  const lookup = async (topic: string, partition: number, timestamp: number) => {
    const log = broker.topics.partition(topic, partition);
    if (!log) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1, offset: -1 };
    if (timestamp === LATEST) return { errorCode: 0, timestamp: -1, offset: log.highWatermark };
    if (timestamp === EARLIEST) return { errorCode: 0, timestamp: -1, offset: log.logStartOffset };
    const found = await log.offsetForTimestamp(timestamp);
    // Kafka answers -1/-1 when no record is that recent; kafkajs then uses the latest offset.
    return {
      errorCode: ErrorCode.NONE,
      timestamp: found?.timestamp ?? -1,
      offset: found?.offset ?? -1,
    };
  };

  return {
    apiKey: ApiKey.ListOffsets,
    name: 'ListOffsets',
    minVersion: 3,
    maxVersion: 3,
    async handle(request) {
      request.readInt32(); // replica_id
      request.readInt8(); // isolation_level: nothing is uncommitted here
      const requested = request.readArray((t) => ({
        topic: readRequiredString(t),
        partitions: t.readArray((p) => ({
          partition: p.readInt32(),
          timestamp: Number(p.readInt64()),
        })),
      }));
      const responses: Encoder[] = [];
      for (const { topic, partitions } of requested) {
        const answers: Encoder[] = [];
        for (const { partition, timestamp } of partitions) {
          const found = await lookup(topic, partition, timestamp);
          answers.push(
            new Encoder()
              .writeInt32(partition)
              .writeInt16(found.errorCode)
              .writeInt64(found.timestamp)
              .writeInt64(found.offset),
          );
        }
        responses.push(new Encoder().writeString(topic).writeArray(answers));
      }
      return new Encoder().writeInt32(0).writeArray(responses);
    },
  };
}
