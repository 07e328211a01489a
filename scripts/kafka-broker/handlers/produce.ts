/**
 * Produce v7. Each partition's record set must be one valid v2 batch; it is stored as sent (see
 * record-batch.ts) and waiting fetches are told. Batches from idempotent producers are checked
 * against their sequence numbers, so a retried batch is not appended twice. acks 0 gets no answer
 * at all (the client does not read one); 1 and -1 are the same thing on one node.
 */
import type { ApiHandler, Broker } from '../handler.js';
import { ApiKey, Encoder, ErrorCode, readRequiredString } from '../protocol.js';
import { readRecordSet } from '../record-batch.js';

interface PartitionResult {
  partition: number;
  errorCode: number;
  baseOffset: number;
}

export function produceHandler(broker: Broker): ApiHandler {
  const { topics, producers, stats, settings } = broker;

  const append = (topic: string, partition: number, recordSet: Buffer | null): PartitionResult => {
    const fail = (errorCode: number) => ({ partition, errorCode, baseOffset: -1 });
    const log = topics.partition(topic, partition);
    if (!log) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    if (!recordSet || recordSet.length > settings.maxMessageBytes) {
      return fail(recordSet ? ErrorCode.MESSAGE_TOO_LARGE : ErrorCode.CORRUPT_MESSAGE);
    }
    const batches = readRecordSet(recordSet);
    if (batches === 'corrupt') return fail(ErrorCode.CORRUPT_MESSAGE);
    if (batches === 'not-one-batch') return fail(ErrorCode.INVALID_RECORD);
    const batch = batches[0]!;
    // Transactions are not implemented (InitProducerId refuses a transactional id).
    if (batch.transactional || batch.control) return fail(ErrorCode.INVALID_RECORD);

    const check = producers.check(topic, partition, batch);
    if (check.kind === 'error') return fail(check.errorCode);
    if (check.kind === 'duplicate')
      return { partition, errorCode: 0, baseOffset: check.baseOffset };
    const baseOffset = log.append(batch);
    producers.appended(topic, partition, batch, baseOffset);
    stats.producedBatches++;
    topics.changed(topic, partition);
    return { partition, errorCode: ErrorCode.NONE, baseOffset };
  };

  return {
    apiKey: ApiKey.Produce,
    name: 'Produce',
    minVersion: 7,
    maxVersion: 7,
    handle(request, { logger }) {
      request.readString(); // transactional_id
      const acks = request.readInt16();
      request.readInt32(); // timeout: appends are synchronous
      const validAcks = acks === 0 || acks === 1 || acks === -1;
      const results = request.readArray((t) => {
        const topic = readRequiredString(t);
        const partitions = t.readArray((p) => {
          const partition = p.readInt32();
          const recordSet = p.readBytes();
          return validAcks
            ? append(topic, partition, recordSet)
            : { partition, errorCode: ErrorCode.INVALID_REQUIRED_ACKS, baseOffset: -1 };
        });
        return { topic, partitions };
      });
      logger.debug({ acks, results }, 'Produced');
      if (acks === 0) return null;

      return new Encoder()
        .writeArray(
          results.map(({ topic, partitions }) =>
            new Encoder().writeString(topic).writeArray(
              partitions.map(({ partition, errorCode, baseOffset }) =>
                new Encoder()
                  .writeInt32(partition)
                  .writeInt16(errorCode)
                  .writeInt64(baseOffset)
                  .writeInt64(-1) // log_append_time: CreateTime topics
                  .writeInt64(topics.partition(topic, partition)?.logStartOffset ?? -1),
              ),
            ),
          ),
        )
        .writeInt32(0); // throttle_time_ms comes last in Produce
    },
  };
}
