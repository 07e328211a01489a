/** JoinGroup v5. The answer waits until the rebalance completes (groups.ts); a first join gets its
 * member id in that answer (no MEMBER_ID_REQUIRED round trip, which kafkajs also accepts). */
import type { ApiHandler, Broker } from '../handler.js';
import type { JoinResult } from '../groups.js';
import { ApiKey, Encoder, readRequiredString } from '../protocol.js';

function encode(result: JoinResult): Encoder {
  return new Encoder()
    .writeInt32(0) // throttle_time_ms
    .writeInt16(result.errorCode)
    .writeInt32(result.generationId)
    .writeString(result.protocol)
    .writeString(result.leaderId)
    .writeString(result.memberId)
    .writeArray(
      result.members.map((m) =>
        new Encoder()
          .writeString(m.memberId)
          .writeString(null) // group_instance_id: no static membership
          .writeBytes(m.metadata),
      ),
    );
}

/**
 * The member's host as Kafka shows it in DescribeGroups: Java's InetAddress.toString() of an
 * address with no host name, "/127.0.0.1". An IPv4 client on a dual-stack socket is shown as the
 * IPv4 address, as Java does.
 */
function kafkaClientHost(remoteAddress: string): string {
  return `/${remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '')}`;
}

export function joinGroupHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.JoinGroup,
    name: 'JoinGroup',
    minVersion: 5,
    maxVersion: 5,
    waits: true,
    async handle(request, { header, clientHost }) {
      const groupId = readRequiredString(request);
      const sessionTimeout = request.readInt32();
      const rebalanceTimeout = request.readInt32();
      const memberId = readRequiredString(request);
      request.readString(); // group_instance_id: static membership is not implemented
      const protocolType = readRequiredString(request);
      const protocols = request.readArray((p) => ({
        name: readRequiredString(p),
        metadata: p.readBytes() ?? Buffer.alloc(0),
      }));
      const result = await broker.groups.join({
        groupId,
        memberId,
        clientId: header.clientId,
        clientHost: kafkaClientHost(clientHost),
        sessionTimeout,
        rebalanceTimeout,
        protocolType,
        protocols,
      });
      return encode(result);
    },
  };
}
