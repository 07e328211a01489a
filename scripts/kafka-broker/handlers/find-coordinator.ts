/** FindCoordinator v2: this broker coordinates every group (and would every transaction). */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode } from '../protocol.js';

export function findCoordinatorHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.FindCoordinator,
    name: 'FindCoordinator',
    minVersion: 2,
    maxVersion: 2,
    handle(request) {
      request.readString(); // coordinator_key
      request.readInt8(); // coordinator_type
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeInt16(ErrorCode.NONE)
        .writeString(null) // error_message
        .writeInt32(broker.nodeId)
        .writeString(broker.host)
        .writeInt32(broker.port);
    },
  };
}
