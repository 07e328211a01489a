/**
 * Metadata v6: this broker as the only node, leader of every partition.
 *
 * A request naming a topic that does not exist creates it when the client allows it (producers
 * and consumers do, kafkajs's admin does not), as Kafka with auto.create.topics.enable does; and,
 * as Kafka (KRaft) does, that request is still answered UNKNOWN_TOPIC_OR_PARTITION: Kafka hands
 * the creation to its controller and answers before it is done (AutoTopicCreationManager). A
 * producer retries and finds the topic; a kafkajs consumer's subscribe() fails, so a consumer
 * must create its topic first (lib/kafka/topics.ts ensureTopics). The topic is created here at once, so
 * the very next request sees it, where Kafka may take some milliseconds.
 */
import type { Logger } from '../../../lib/platform/logger.js';
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readNullableArray, readRequiredString } from '../protocol.js';
import { isValidTopicName } from '../topics.js';

export function metadataHandler(broker: Broker): ApiHandler {
  const { topics, nodeId } = broker;

  const describeTopic = (topic: string, errorCode: number): Encoder => {
    const partitions = errorCode === ErrorCode.NONE ? (topics.partitions(topic) ?? []) : [];
    return new Encoder()
      .writeInt16(errorCode)
      .writeString(topic)
      .writeBoolean(false) // is_internal
      .writeArray(
        partitions.map(
          (_log, partition) =>
            new Encoder()
              .writeInt16(ErrorCode.NONE)
              .writeInt32(partition)
              .writeInt32(nodeId) // leader
              .writeArray([nodeId], 'int32') // replicas
              .writeArray([nodeId], 'int32') // isr
              .writeArray([], 'int32'), // offline_replicas
        ),
      );
  };

  const topicStatus = (topic: string, allowAutoTopicCreation: boolean, logger: Logger): number => {
    if (topics.has(topic)) return ErrorCode.NONE;
    if (!isValidTopicName(topic)) return ErrorCode.INVALID_TOPIC_EXCEPTION;
    if (!allowAutoTopicCreation) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    topics.create(topic, broker.settings.defaultPartitions);
    logger.info(
      { topic, partitions: broker.settings.defaultPartitions },
      'Topic created on first use; this request is answered UNKNOWN_TOPIC_OR_PARTITION, as by Kafka',
    );
    return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  };

  return {
    apiKey: ApiKey.Metadata,
    name: 'Metadata',
    minVersion: 6,
    maxVersion: 6,
    handle(request, ctx) {
      const requested = readNullableArray(request, readRequiredString);
      const allowAutoTopicCreation = request.readBoolean();
      const described =
        requested === null
          ? topics.names().map((topic) => describeTopic(topic, ErrorCode.NONE))
          : requested.map((topic) =>
              describeTopic(topic, topicStatus(topic, allowAutoTopicCreation, ctx.logger)),
            );
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeArray([
          new Encoder()
            .writeInt32(nodeId)
            .writeString(broker.host)
            .writeInt32(broker.port)
            .writeString(null), // rack
        ])
        .writeString('in-repo-test-broker') // cluster_id
        .writeInt32(nodeId) // controller_id
        .writeArray(described);
    },
  };
}
