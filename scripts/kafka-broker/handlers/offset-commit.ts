/** OffsetCommit v5: stores a group's offsets when the member may commit (groups.ts decides). */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';

/** Kafka's offset.metadata.max.bytes. */
const MAX_METADATA_LENGTH = 4096;

export function offsetCommitHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.OffsetCommit,
    name: 'OffsetCommit',
    minVersion: 5,
    maxVersion: 5,
    handle(request, { logger }) {
      const groupId = readRequiredString(request);
      const generationId = request.readInt32();
      const memberId = readRequiredString(request);
      const groupError = broker.groups.checkCommit(groupId, generationId, memberId);
      const commit = (
        topic: string,
        partition: number,
        offset: number,
        metadata: string | null,
      ) => {
        if (groupError !== ErrorCode.NONE) return groupError;
        if (!broker.topics.partition(topic, partition)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        if (metadata && metadata.length > MAX_METADATA_LENGTH) {
          return ErrorCode.OFFSET_METADATA_TOO_LARGE;
        }
        broker.offsets.store(groupId, topic, partition, { offset, metadata });
        return ErrorCode.NONE;
      };
      const responses = request.readArray((t) => {
        const topic = readRequiredString(t);
        const partitions = t.readArray((p) => {
          const partition = p.readInt32();
          const offset = Number(p.readInt64());
          const metadata = p.readString();
          const errorCode = commit(topic, partition, offset, metadata);
          return new Encoder().writeInt32(partition).writeInt16(errorCode);
        });
        return new Encoder().writeString(topic).writeArray(partitions);
      });
      logger.debug(
        {
          group_id: groupId,
          generation_id: generationId,
          member_id: memberId,
          group_error: groupError,
        },
        'Offsets committed',
      );
      return new Encoder().writeInt32(0).writeArray(responses);
    },
  };
}
