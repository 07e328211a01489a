/** CreateTopics v3. One node, so a replication factor other than 1 (or -1, "the default") is
 * refused, as a real one-broker cluster would refuse it. Topic configs are accepted and ignored. */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';
import { isValidTopicName } from '../topics.js';

interface TopicRequest {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  /** Explicit replica assignment: its length is the partition count. */
  assignedPartitions: number;
}

export function createTopicsHandler(broker: Broker): ApiHandler {
  const { topics } = broker;

  const check = ({ topic, numPartitions, replicationFactor, assignedPartitions }: TopicRequest) => {
    if (!isValidTopicName(topic)) {
      return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, message: 'invalid topic name' };
    }
    if (topics.has(topic)) {
      return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, message: `topic ${topic} exists` };
    }
    if (replicationFactor !== -1 && replicationFactor !== 1) {
      return {
        errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
        message: 'this single-node test broker only has replication factor 1',
      };
    }
    const partitions =
      assignedPartitions > 0
        ? assignedPartitions
        : numPartitions === -1
          ? broker.settings.defaultPartitions
          : numPartitions;
    if (partitions < 1) {
      return { errorCode: ErrorCode.INVALID_PARTITIONS, message: 'at least one partition' };
    }
    return { errorCode: ErrorCode.NONE, message: null, partitions };
  };

  return {
    apiKey: ApiKey.CreateTopics,
    name: 'CreateTopics',
    minVersion: 3,
    maxVersion: 3,
    handle(request, { logger }) {
      const requested = request.readArray((d): TopicRequest => {
        const topic = readRequiredString(d);
        const numPartitions = d.readInt32();
        const replicationFactor = d.readInt16();
        const assignedPartitions = d.readArray((a) => {
          a.readInt32(); // partition
          a.readArray((r) => r.readInt32()); // replicas
        }).length;
        d.readArray((c) => [c.readString(), c.readString()]); // config entries: not applied
        return { topic, numPartitions, replicationFactor, assignedPartitions };
      });
      request.readInt32(); // timeout: creation is immediate
      const validateOnly = request.readBoolean();

      const results = requested.map((req) => {
        const outcome = check(req);
        if (outcome.partitions !== undefined && !validateOnly) {
          topics.create(req.topic, outcome.partitions);
          logger.info({ topic: req.topic, partitions: outcome.partitions }, 'Topic created');
        }
        return new Encoder()
          .writeString(req.topic)
          .writeInt16(outcome.errorCode)
          .writeString(outcome.message);
      });
      return new Encoder().writeInt32(0).writeArray(results);
    },
  };
}
