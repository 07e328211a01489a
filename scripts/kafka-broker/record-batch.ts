/**
 * Reads the header of a v2 record batch (magic 2, what kafkajs produces) without decompressing it.
 * The broker stores batches as the producer sent them, as Kafka does: only the base offset is
 * rewritten, and it lies outside the CRC, so compressed payloads (gzip, or codecs a client adds)
 * never need decoding here. Layout: kafkajs src/protocol/recordBatch/v0/index.js.
 */
import { crc32C } from './kafkajs-internals.js';

const LENGTH_AT = 8;
const PARTITION_LEADER_EPOCH_AT = 12;
const MAGIC_AT = 16;
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;
const LAST_OFFSET_DELTA_AT = 23;
const MAX_TIMESTAMP_AT = 35;
const PRODUCER_ID_AT = 43;
const PRODUCER_EPOCH_AT = 51;
const BASE_SEQUENCE_AT = 53;
/** Bytes before the records: base offset and length (12) plus the 49-byte batch header. */
const HEADER_SIZE = 61;
/** The offset and length fields come before the length's own count. */
const LOG_OVERHEAD = 12;
const MAGIC_V2 = 2;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;

export interface RecordBatchHeader {
  /** The whole batch, base offset first. */
  bytes: Buffer;
  /** Offsets the batch takes: lastOffsetDelta + 1. */
  offsetCount: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  transactional: boolean;
  control: boolean;
}

export type RecordSetProblem = 'corrupt' | 'not-one-batch';

/** Splits a produce request's record set into batches, checking each batch's CRC and magic. */
export function readRecordSet(recordSet: Buffer): RecordBatchHeader[] | RecordSetProblem {
  const batches: RecordBatchHeader[] = [];
  let at = 0;
  while (at < recordSet.length) {
    if (recordSet.length - at < HEADER_SIZE) return 'corrupt';
    const size = LOG_OVERHEAD + recordSet.readInt32BE(at + LENGTH_AT);
    if (size < HEADER_SIZE || at + size > recordSet.length) return 'corrupt';
    const bytes = recordSet.subarray(at, at + size);
    at += size;
    if (bytes.readInt8(MAGIC_AT) !== MAGIC_V2) return 'corrupt';
    if (crc32C(bytes.subarray(ATTRIBUTES_AT)) !== bytes.readUInt32BE(CRC_AT)) return 'corrupt';
    const attributes = bytes.readInt16BE(ATTRIBUTES_AT);
    const lastOffsetDelta = bytes.readInt32BE(LAST_OFFSET_DELTA_AT);
    if (lastOffsetDelta < 0) return 'corrupt';
    batches.push({
      bytes,
      offsetCount: lastOffsetDelta + 1,
      maxTimestamp: Number(bytes.readBigInt64BE(MAX_TIMESTAMP_AT)),
      producerId: bytes.readBigInt64BE(PRODUCER_ID_AT),
      producerEpoch: bytes.readInt16BE(PRODUCER_EPOCH_AT),
      baseSequence: bytes.readInt32BE(BASE_SEQUENCE_AT),
      transactional: (attributes & TRANSACTIONAL_FLAG) !== 0,
      control: (attributes & CONTROL_FLAG) !== 0,
    });
  }
  // Since Produce v3 a request carries exactly one batch per partition; Kafka refuses others.
  return batches.length === 1 ? batches : 'not-one-batch';
}

/** A copy of the batch placed at `baseOffset` in the log (the request's buffer is not kept). */
export function placeBatch(batch: RecordBatchHeader, baseOffset: number): Buffer {
  const stored = Buffer.from(batch.bytes);
  stored.writeBigInt64BE(BigInt(baseOffset), 0);
  // Single node, never a leader change: epoch 0, like the first epoch of a real partition.
  stored.writeInt32BE(0, PARTITION_LEADER_EPOCH_AT);
  return stored;
}
