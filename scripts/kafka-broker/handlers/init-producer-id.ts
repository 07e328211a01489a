/** InitProducerId v1: a fresh producer id for an idempotent producer. Transactions are not
 * implemented, so a transactional id is refused (INVALID_REQUEST: "an incompatible broker"). */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode } from '../protocol.js';

export function initProducerIdHandler(broker: Broker): ApiHandler {
  return {
    apiKey: ApiKey.InitProducerId,
    name: 'InitProducerId',
    minVersion: 1,
    maxVersion: 1,
    handle(request, { logger }) {
      const transactionalId = request.readString();
      request.readInt32(); // transaction_timeout_ms
      if (transactionalId !== null) {
        logger.warn(
          { transactional_id: transactionalId },
          'Transactions are not supported by the test broker',
        );
        return new Encoder()
          .writeInt32(0)
          .writeInt16(ErrorCode.INVALID_REQUEST)
          .writeInt64(-1)
          .writeInt16(-1);
      }
      const { producerId, producerEpoch } = broker.producers.newProducer();
      logger.debug({ producer_id: String(producerId) }, 'Producer id issued');
      return new Encoder()
        .writeInt32(0) // throttle_time_ms
        .writeInt16(ErrorCode.NONE)
        .writeInt64(producerId)
        .writeInt16(producerEpoch);
    },
  };
}
