/**
 * Idempotent producers: ids handed out by InitProducerId, and per partition the sequence numbers
 * of the last few batches, so a batch the producer retries (its answer was lost) is acknowledged
 * with its first offset instead of being appended twice. Kafka keeps the last five, which is what
 * a producer with up to five requests in flight can retry.
 */
import type { RecordBatchHeader } from './record-batch.js';
import { ErrorCode } from './protocol.js';

const BATCHES_REMEMBERED = 5;
const INT32_MAX = 2 ** 31 - 1;

interface SentBatch {
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
}

interface PartitionState {
  epoch: number;
  recent: SentBatch[];
}

export type SequenceCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number }
  | { kind: 'error'; errorCode: number };

/** Sequences wrap to 0 after INT32_MAX, as the Java client and kafkajs both do. */
function lastSequenceOf(batch: RecordBatchHeader): number {
  return (batch.baseSequence + batch.offsetCount - 1) % (INT32_MAX + 1);
}

function nextSequence(sequence: number): number {
  return sequence >= INT32_MAX ? 0 : sequence + 1;
}

export class ProducerRegistry {
  private nextProducerId = 1000n;
  private readonly partitions = new Map<string, PartitionState>();

  newProducer(): { producerId: bigint; producerEpoch: number } {
    return { producerId: this.nextProducerId++, producerEpoch: 0 };
  }

  check(topic: string, partition: number, batch: RecordBatchHeader): SequenceCheck {
    if (batch.producerId < 0n) return { kind: 'append' };
    const state = this.partitions.get(key(batch.producerId, topic, partition));
    // A producer unknown here (the broker restarted, say) starts afresh rather than failing.
    if (!state || batch.producerEpoch > state.epoch) return { kind: 'append' };
    if (batch.producerEpoch < state.epoch) {
      return { kind: 'error', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH };
    }
    const lastSequence = lastSequenceOf(batch);
    const seen = state.recent.find(
      (b) => b.firstSequence === batch.baseSequence && b.lastSequence === lastSequence,
    );
    if (seen) return { kind: 'duplicate', baseOffset: seen.baseOffset };
    const last = state.recent.at(-1);
    if (last && batch.baseSequence !== nextSequence(last.lastSequence)) {
      return { kind: 'error', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER };
    }
    return { kind: 'append' };
  }

  appended(topic: string, partition: number, batch: RecordBatchHeader, baseOffset: number): void {
    if (batch.producerId < 0n) return;
    const k = key(batch.producerId, topic, partition);
    let state = this.partitions.get(k);
    if (!state || batch.producerEpoch > state.epoch) {
      state = { epoch: batch.producerEpoch, recent: [] };
      this.partitions.set(k, state);
    }
    state.recent.push({
      firstSequence: batch.baseSequence,
      lastSequence: lastSequenceOf(batch),
      baseOffset,
    });
    if (state.recent.length > BATCHES_REMEMBERED) state.recent.shift();
  }

  forgetTopic(topic: string): void {
    for (const k of this.partitions.keys()) {
      if (k.split('\0')[1] === topic) this.partitions.delete(k);
    }
  }
}

function key(producerId: bigint, topic: string, partition: number): string {
  return `${producerId}\0${topic}\0${partition}`;
}
