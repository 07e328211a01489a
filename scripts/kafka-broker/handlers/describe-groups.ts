/** DescribeGroups v2: state, protocol and members. As in Kafka, a group with committed offsets
 * and no members is "Empty", one the broker has never heard of "Dead". */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';

export function describeGroupsHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.DescribeGroups,
    name: 'DescribeGroups',
    minVersion: 2,
    maxVersion: 2,
    handle(request) {
      const groupIds = request.readArray(readRequiredString);
      const groups = groupIds.map((groupId) => {
        const g = broker.groups.describe(groupId);
        const state = g.state === 'Dead' && broker.offsets.hasGroup(groupId) ? 'Empty' : g.state;
        return new Encoder()
          .writeInt16(ErrorCode.NONE)
          .writeString(g.groupId)
          .writeString(state)
          .writeString(g.protocolType)
          .writeString(g.protocol)
          .writeArray(
            g.members.map((m) =>
              new Encoder()
                .writeString(m.memberId)
                .writeString(m.clientId)
                .writeString(m.clientHost)
                .writeBytes(m.metadata)
                .writeBytes(m.assignment),
            ),
          );
      });
      return new Encoder().writeInt32(0).writeArray(groups);
    },
  };
}
