/**
 * One partition's log, in memory: record batches in offset order. Offsets are JavaScript numbers;
 * a test broker never comes near 2^53.
 */
import { Decoder, decodeRecordBatch } from './kafkajs-internals.js';
import { placeBatch, type RecordBatchHeader } from './record-batch.js';

interface StoredBatch {
  baseOffset: number;
  /** The offset after this batch's last record. */
  endOffset: number;
  maxTimestamp: number;
  bytes: Buffer;
}

export class PartitionLog {
  private readonly batches: StoredBatch[] = [];
  private size = 0;
  logStartOffset = 0;
  highWatermark = 0;

  /** @param retentionBytes oldest batches are dropped beyond this, so a long dev session stays small. */
  constructor(private readonly retentionBytes: number) {}

  /** Appends the batch at the end of the log and returns its base offset. */
  append(batch: RecordBatchHeader): number {
    const baseOffset = this.highWatermark;
    const bytes = placeBatch(batch, baseOffset);
    this.highWatermark = baseOffset + batch.offsetCount;
    this.batches.push({
      baseOffset,
      endOffset: this.highWatermark,
      maxTimestamp: batch.maxTimestamp,
      bytes,
    });
    this.size += bytes.length;
    while (this.size > this.retentionBytes && this.batches.length > 1) {
      this.size -= this.batches.shift()!.bytes.length;
      this.logStartOffset = this.batches[0]!.baseOffset;
    }
    return baseOffset;
  }

  /**
   * Whole batches from the one holding `offset` on, within `maxBytes`. The first batch is returned
   * even when larger, when `mayExceed` says nothing else is in the answer yet (KIP-74), so one big
   * batch cannot stall a consumer. The client drops records before `offset` itself.
   */
  read(offset: number, maxBytes: number, mayExceed: boolean): Buffer[] {
    const out: Buffer[] = [];
    let bytes = 0;
    for (let i = this.indexOf(offset); i < this.batches.length; i++) {
      const batch = this.batches[i]!;
      const fits = bytes + batch.bytes.length <= maxBytes;
      if (!fits && !(mayExceed && out.length === 0)) break;
      out.push(batch.bytes);
      bytes += batch.bytes.length;
    }
    return out;
  }

  /**
   * The first offset whose record has a timestamp at or after `timestamp`, with that timestamp;
   * undefined when there is none. Decodes one batch (kafkajs's decoder, so gzip works).
   */
  async offsetForTimestamp(
    timestamp: number,
  ): Promise<{ offset: number; timestamp: number } | undefined> {
    const batch = this.batches.find((b) => b.maxTimestamp >= timestamp);
    if (!batch) return undefined;
    const { records } = await decodeRecordBatch(new Decoder(batch.bytes));
    const record = records.find((r) => Number(r.timestamp) >= timestamp);
    if (!record) return { offset: batch.baseOffset, timestamp: batch.maxTimestamp };
    return { offset: Number(record.offset), timestamp: Number(record.timestamp) };
  }

  /** Index of the first batch that ends after `offset` (batches.length when none does). */
  private indexOf(offset: number): number {
    let low = 0;
    let high = this.batches.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.batches[mid]!.endOffset <= offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
