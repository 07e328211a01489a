/**
 * Types for the pieces of kafkajs's protocol code (node_modules/kafkajs/src/protocol) that the
 * test broker reuses. kafkajs ships types for its public API only; these CommonJS modules are
 * internal, so only the members the broker calls are declared here, checked against 2.2.4.
 */

declare module 'kafkajs/src/protocol/encoder.js' {
  export default class Encoder {
    constructor(initialSize?: number);
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
}

declare module 'kafkajs/src/protocol/decoder.js' {
  export default class Decoder {
    constructor(buffer: Buffer);
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
}

declare module 'kafkajs/src/protocol/recordBatch/crc32C/index.js' {
  /** CRC-32C (Castagnoli) as an unsigned 32-bit number: the checksum of a v2 record batch. */
  export default function crc32C(buffer: Buffer): number;
}

declare module 'kafkajs/src/protocol/recordBatch/v0/decoder.js' {
  import type Decoder from 'kafkajs/src/protocol/decoder.js';

  export interface DecodedRecord {
    /** Int64 values are decimal strings. */
    offset: string;
    timestamp: string;
    key: Buffer | null;
    value: Buffer | null;
  }
  /** Decodes one record batch (decompressing it) from the decoder's current position. */
  export default function decodeRecordBatch(
    decoder: Decoder,
  ): Promise<{ firstOffset: string; records: DecodedRecord[] }>;
}

declare module 'kafkajs/src/protocol/requests/apiKeys.js' {
  const apiKeys: Readonly<Record<string, number>>;
  export default apiKeys;
}

declare module 'kafkajs/src/protocol/error.js' {
  const errors: {
    readonly errorCodes: ReadonlyArray<{ type: string; code: number; retriable: boolean }>;
  };
  export default errors;
}

// The broker's tests speak the protocol by hand with these, for what kafkajs's client never
// sends (a retried batch, an unsupported version).

declare module 'kafkajs/src/protocol/request.js' {
  import type Encoder from 'kafkajs/src/protocol/encoder.js';

  export interface ProtocolRequest {
    apiKey: number;
    apiVersion: number;
    encode(): Promise<Encoder>;
  }
  /** Frames a request: size, header (v1) and body. */
  export default function createRequest(options: {
    correlationId: number;
    clientId: string;
    request: ProtocolRequest;
  }): Promise<Encoder>;
}

declare module 'kafkajs/src/protocol/requests/produce/v7/request.js' {
  import type { ProtocolRequest } from 'kafkajs/src/protocol/request.js';

  export default function produceRequest(options: {
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
  }): ProtocolRequest;
}

declare module 'kafkajs/src/protocol/requests/produce/v7/response.js' {
  const response: {
    decode(payload: Buffer): Promise<{
      topics: {
        topicName: string;
        partitions: { partition: number; errorCode: number; baseOffset: string }[];
      }[];
    }>;
  };
  export default response;
}
