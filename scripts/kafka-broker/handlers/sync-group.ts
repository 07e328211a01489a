/** SyncGroup v3: the leader hands in the assignment, every member gets its share. */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, readRequiredString } from '../protocol.js';

export function syncGroupHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.SyncGroup,
    name: 'SyncGroup',
    minVersion: 3,
    maxVersion: 3,
    waits: true,
    async handle(request) {
      const groupId = readRequiredString(request);
      const generationId = request.readInt32();
      const memberId = readRequiredString(request);
      request.readString(); // group_instance_id
      const assignments = request.readArray((a) => ({
        memberId: readRequiredString(a),
        assignment: a.readBytes() ?? Buffer.alloc(0),
      }));
      const result = await broker.groups.sync({ groupId, generationId, memberId, assignments });
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeInt16(result.errorCode)
        .writeBytes(result.assignment);
    },
  };
}
