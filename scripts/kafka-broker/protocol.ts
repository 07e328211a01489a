/**
 * The protocol vocabulary the broker shares with kafkajs: its Encoder/Decoder (the same code that
 * writes the requests we read and reads the responses we write, so both sides agree byte for
 * byte), its API keys and its error codes. Names are looked up rather than copied as numbers so a
 * typo fails at start-up instead of putting a wrong code on the wire.
 */
import { apiKeys, Decoder, Encoder, kafkaErrors } from './kafkajs-internals.js';

export { Decoder, Encoder };

function apiKey(name: string): number {
  const key = apiKeys[name];
  if (key === undefined) throw new Error(`kafkajs knows no API named ${name}`);
  return key;
}

export const ApiKey = {
  Produce: apiKey('Produce'),
  Fetch: apiKey('Fetch'),
  ListOffsets: apiKey('ListOffsets'),
  Metadata: apiKey('Metadata'),
  OffsetCommit: apiKey('OffsetCommit'),
  OffsetFetch: apiKey('OffsetFetch'),
  // kafkajs still uses the API's pre-0.11 name.
  FindCoordinator: apiKey('GroupCoordinator'),
  JoinGroup: apiKey('JoinGroup'),
  Heartbeat: apiKey('Heartbeat'),
  LeaveGroup: apiKey('LeaveGroup'),
  SyncGroup: apiKey('SyncGroup'),
  DescribeGroups: apiKey('DescribeGroups'),
  ListGroups: apiKey('ListGroups'),
  ApiVersions: apiKey('ApiVersions'),
  CreateTopics: apiKey('CreateTopics'),
  DeleteTopics: apiKey('DeleteTopics'),
  InitProducerId: apiKey('InitProducerId'),
} as const;

const codesByType = new Map(kafkaErrors.errorCodes.map((e) => [e.type, e.code]));

function errorCode(type: string): number {
  const code = codesByType.get(type);
  if (code === undefined) throw new Error(`kafkajs knows no error named ${type}`);
  return code;
}

export const ErrorCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: errorCode('OFFSET_OUT_OF_RANGE'),
  CORRUPT_MESSAGE: errorCode('CORRUPT_MESSAGE'),
  UNKNOWN_TOPIC_OR_PARTITION: errorCode('UNKNOWN_TOPIC_OR_PARTITION'),
  MESSAGE_TOO_LARGE: errorCode('MESSAGE_TOO_LARGE'),
  OFFSET_METADATA_TOO_LARGE: errorCode('OFFSET_METADATA_TOO_LARGE'),
  COORDINATOR_NOT_AVAILABLE: errorCode('GROUP_COORDINATOR_NOT_AVAILABLE'),
  INVALID_TOPIC_EXCEPTION: errorCode('INVALID_TOPIC_EXCEPTION'),
  INVALID_REQUIRED_ACKS: errorCode('INVALID_REQUIRED_ACKS'),
  ILLEGAL_GENERATION: errorCode('ILLEGAL_GENERATION'),
  INCONSISTENT_GROUP_PROTOCOL: errorCode('INCONSISTENT_GROUP_PROTOCOL'),
  INVALID_GROUP_ID: errorCode('INVALID_GROUP_ID'),
  UNKNOWN_MEMBER_ID: errorCode('UNKNOWN_MEMBER_ID'),
  INVALID_SESSION_TIMEOUT: errorCode('INVALID_SESSION_TIMEOUT'),
  REBALANCE_IN_PROGRESS: errorCode('REBALANCE_IN_PROGRESS'),
  UNSUPPORTED_VERSION: errorCode('UNSUPPORTED_VERSION'),
  TOPIC_ALREADY_EXISTS: errorCode('TOPIC_ALREADY_EXISTS'),
  INVALID_PARTITIONS: errorCode('INVALID_PARTITIONS'),
  INVALID_REPLICATION_FACTOR: errorCode('INVALID_REPLICATION_FACTOR'),
  INVALID_REQUEST: errorCode('INVALID_REQUEST'),
  OUT_OF_ORDER_SEQUENCE_NUMBER: errorCode('OUT_OF_ORDER_SEQUENCE_NUMBER'),
  INVALID_PRODUCER_EPOCH: errorCode('INVALID_PRODUCER_EPOCH'),
  INVALID_RECORD: errorCode('INVALID_RECORD'),
} as const;

/** Reads an array whose length -1 means "null" (e.g. "all topics"), which kafkajs's
 * `readArray` folds into an empty array. */
export function readNullableArray<T>(decoder: Decoder, reader: (d: Decoder) => T): T[] | null {
  const length = decoder.readInt32();
  if (length < 0) return null;
  return Array.from({ length }, () => reader(decoder));
}

/** A STRING field the protocol says is never null. */
export function readRequiredString(decoder: Decoder): string {
  return decoder.readString() ?? '';
}
