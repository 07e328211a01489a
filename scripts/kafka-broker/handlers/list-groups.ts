/** ListGroups v2: every group, those that only hold committed offsets included (as Kafka). */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode } from '../protocol.js';

export function listGroupsHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.ListGroups,
    name: 'ListGroups',
    minVersion: 2,
    maxVersion: 2,
    handle() {
      const groups = new Map(broker.groups.list().map((g) => [g.groupId, g.protocolType]));
      for (const groupId of broker.offsets.groupIds()) {
        if (!groups.has(groupId)) groups.set(groupId, '');
      }
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeInt16(ErrorCode.NONE)
        .writeArray(
          [...groups].map(([groupId, protocolType]) =>
            new Encoder().writeString(groupId).writeString(protocolType),
          ),
        );
    },
  };
}
