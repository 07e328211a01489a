/**
 * The one way into kafkajs's internals (node_modules/kafkajs/src/…) for the broker and its tests:
 * its protocol Encoder and Decoder, record-batch code, API keys, error codes and the request
 * builders the tests use to speak the protocol by hand. kafkajs ships types for its public API
 * only, and these CommonJS modules can change in any release, so they are loaded here alone,
 * typed with only the members the broker calls, and only after the installed kafkajs is checked
 * to be the version this file was read against. Moving to another kafkajs version: read these
 * modules in that version, adjust the types below, then KAFKAJS_VERSION.
 */
import { createRequire } from 'node:module';

/** The kafkajs release whose src/ the declarations below describe. */
export const KAFKAJS_VERSION = '2.2.4';

const require = createRequire(import.meta.url);

/** The version of the kafkajs that this process loads. */
export const installedKafkajsVersion = (): string =>
  (require('kafkajs/package.json') as { version: string }).version;

/** Throws, saying what to do, unless `installed` is the version the declarations describe. */
export function assertKafkajsVersion(installed: string): void {
  if (installed === KAFKAJS_VERSION) return;
  throw new Error(
    `scripts/kafka-broker uses kafkajs's internals as they are in kafkajs ${KAFKAJS_VERSION}, ` +
      `but kafkajs ${installed} is installed: check scripts/kafka-broker/kafkajs-internals.ts ` +
      `against kafkajs ${installed}'s src/protocol, then set KAFKAJS_VERSION.`,
  );
}

assertKafkajsVersion(installedKafkajsVersion());

/** A module of kafkajs's src/ (after the version check above). */
function internal<T>(path: string): T {
  return require(`kafkajs/src/${path}`) as T;
}

export interface Encoder {
  /** The bytes written so far (a view, not a copy). */
  readonly buffer: Buffer;
  size(): number;
  writeInt8(value: number): this;
  writeInt16(value: number): this;
  writeInt32(value: number): this;
  writeUInt32(value: number): this;
  writeInt64(value: number | bigint | string): this;
  writeBoolean(value: boolean): this;
  /** Length-prefixed UTF-8; null is written as length -1. */
  writeString(value: string | null): this;
  /** Length-prefixed bytes; null is written as length -1. */
  writeBytes(value: Buffer | string | null): this;
  writeEncoder(value: Encoder): this;
  writeBuffer(value: Buffer): this;
  writeArray(array: Encoder[]): this;
  writeArray(array: number[], type: 'int32'): this;
  writeArray(array: string[], type: 'string'): this;
}
export const Encoder = internal<new (initialSize?: number) => Encoder>('protocol/encoder.js');

export interface Decoder {
  offset: number;
  readonly buffer: Buffer;
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): bigint;
  readBoolean(): boolean;
  readString(): string | null;
  readBytes(length?: number): Buffer | null;
  readArray<T>(reader: (decoder: Decoder) => T): T[];
  canReadBytes(length: number): boolean;
}
export const Decoder = internal<new (buffer: Buffer) => Decoder>('protocol/decoder.js');

/** CRC-32C (Castagnoli) as an unsigned 32-bit number: the checksum of a v2 record batch. */
export const crc32C = internal<(buffer: Buffer) => number>('protocol/recordBatch/crc32C/index.js');

export interface DecodedRecord {
  /** Int64 values are decimal strings. */
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
}

/** Decodes one record batch (decompressing it) from the decoder's current position. */
export const decodeRecordBatch = internal<
  (decoder: Decoder) => Promise<{ firstOffset: string; records: DecodedRecord[] }>
>('protocol/recordBatch/v0/decoder.js');

/** API numbers by kafkajs's names for them. */
export const apiKeys = internal<Readonly<Record<string, number>>>('protocol/requests/apiKeys.js');

export const kafkaErrors = internal<{
  readonly errorCodes: ReadonlyArray<{ type: string; code: number; retriable: boolean }>;
}>('protocol/error.js');

// The broker's tests speak the protocol by hand with these, for what kafkajs's client never
// sends (a retried batch, an unsupported version).

export interface ProtocolRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<Encoder>;
}

/** Frames a request: size, header (v1) and body. */
export const createRequest =
  internal<
    (options: {
      correlationId: number;
      clientId: string;
      request: ProtocolRequest;
    }) => Promise<Encoder>
  >('protocol/request.js');

export const produceRequest = internal<
  (options: {
    acks: number;
    timeout: number;
    producerId?: bigint;
    producerEpoch?: number;
    topicData: {
      topic: string;
      partitions: {
        partition: number;
        firstSequence?: number;
        messages: { key?: string; value: string }[];
      }[];
    }[];
  }) => ProtocolRequest
>('protocol/requests/produce/v7/request.js');

export const produceResponse = internal<{
  decode(payload: Buffer): Promise<{
    topics: {
      topicName: string;
      partitions: { partition: number; errorCode: number; baseOffset: string }[];
    }[];
  }>;
}>('protocol/requests/produce/v7/response.js');
