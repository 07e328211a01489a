/** DeleteTopics v1: the topic, its committed offsets and its producers' sequences go. */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';

export function deleteTopicsHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.DeleteTopics,
    name: 'DeleteTopics',
    minVersion: 1,
    maxVersion: 1,
    handle(request, { logger }) {
      const names = request.readArray(readRequiredString);
      request.readInt32(); // timeout: deletion is immediate
      const results = names.map((topic) => {
        const deleted = broker.topics.delete(topic);
        if (deleted) {
          broker.offsets.forgetTopic(topic);
          broker.producers.forgetTopic(topic);
          logger.info({ topic }, 'Topic deleted');
        }
        return new Encoder()
          .writeString(topic)
          .writeInt16(deleted ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      });
      return new Encoder().writeInt32(0).writeArray(results);
    },
  };
}
