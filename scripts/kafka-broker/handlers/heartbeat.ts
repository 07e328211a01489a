/** Heartbeat v3: keeps the member's session alive and tells it when to rejoin. */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, readRequiredString } from '../protocol.js';

export function heartbeatHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.Heartbeat,
    name: 'Heartbeat',
    minVersion: 3,
    maxVersion: 3,
    handle(request) {
      const groupId = readRequiredString(request);
      const generationId = request.readInt32();
      const memberId = readRequiredString(request);
      request.readString(); // group_instance_id
      const errorCode = broker.groups.heartbeat(groupId, generationId, memberId);
      return new Encoder().writeInt32(0).writeInt16(errorCode);
    },
  };
}
