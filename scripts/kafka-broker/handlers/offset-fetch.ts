/** OffsetFetch v4: a group's committed offsets; -1 where it has none. */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readNullableArray, readRequiredString } from '../protocol.js';

export function offsetFetchHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.OffsetFetch,
    name: 'OffsetFetch',
    minVersion: 4,
    maxVersion: 4,
    handle(request) {
      const groupId = readRequiredString(request);
      // Null asks for every topic the group has offsets for.
      const topics = readNullableArray(request, (t) => ({
        topic: readRequiredString(t),
        partitions: t.readArray((p) => p.readInt32()),
      }));
      const offsets = broker.offsets.committed(groupId, topics);
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeArray(
          offsets.map(({ topic, partitions }) =>
            new Encoder().writeString(topic).writeArray(
              partitions.map(({ partition, committed }) =>
                new Encoder()
                  .writeInt32(partition)
                  .writeInt64(committed?.offset ?? -1)
                  .writeString(committed?.metadata ?? '')
                  .writeInt16(ErrorCode.NONE),
              ),
            ),
          ),
        )
        .writeInt16(ErrorCode.NONE);
    },
  };
}
