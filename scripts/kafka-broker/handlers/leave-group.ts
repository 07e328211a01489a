/** LeaveGroup v3: members leave at once (no wait for their session to expire). */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';

export function leaveGroupHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.LeaveGroup,
    name: 'LeaveGroup',
    minVersion: 3,
    maxVersion: 3,
    handle(request) {
      const groupId = readRequiredString(request);
      const memberIds = request.readArray((m) => {
        const memberId = readRequiredString(m);
        m.readString(); // group_instance_id
        return memberId;
      });
      const results = broker.groups.leave(groupId, memberIds);
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeInt16(ErrorCode.NONE)
        .writeArray(
          results.map(({ memberId, errorCode }) =>
            new Encoder().writeString(memberId).writeString(null).writeInt16(errorCode),
          ),
        );
    },
  };
}
