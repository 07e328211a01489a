/**
 * What a request handler is given and what it returns. Each API lives in handlers/, reads its
 * request with kafkajs's Decoder and writes its response with kafkajs's Encoder. Each serves the
 * version kafkajs 2.2.4 uses (the highest it implements; it picks the highest both sides support),
 * and advertises only what it serves.
 */
import type { Logger } from '../../lib/platform/logger.js';
import type { GroupCoordinator } from './groups.js';
import type { OffsetStore } from './offsets.js';
import type { ProducerRegistry } from './producers.js';
import type { Decoder, Encoder } from './protocol.js';
import type { TopicStore } from './topics.js';

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string;
}

export interface RequestContext {
  header: RequestHeader;
  clientHost: string;
  /** Aborted when the connection closes, so a waiting request stops waiting. */
  signal: AbortSignal;
  logger: Logger;
}

export interface BrokerStats {
  /** Connections open now. */
  connections: number;
  requests: number;
  /** Fetch answers sent: an idle consumer must not make this climb fast (long polling). */
  fetchResponses: number;
  producedBatches: number;
}

export interface BrokerSettings {
  defaultPartitions: number;
  /** Kafka's message.max.bytes: the largest record batch accepted. */
  maxMessageBytes: number;
}

/** The broker's state, shared by the handlers. */
export interface Broker {
  nodeId: number;
  /** Where clients reach this broker: the bound address, as Metadata advertises it. */
  host: string;
  port: number;
  settings: BrokerSettings;
  topics: TopicStore;
  groups: GroupCoordinator;
  offsets: OffsetStore;
  producers: ProducerRegistry;
  stats: BrokerStats;
  logger: Logger;
}

export type ResponseBody = Encoder | null;

export interface ApiHandler {
  apiKey: number;
  name: string;
  minVersion: number;
  maxVersion: number;
  /**
   * True for requests that may wait (long-poll Fetch, JoinGroup, SyncGroup): the connection goes
   * on serving the requests behind them. Others are served strictly in order per connection, so
   * two Produce requests on one connection are appended in the order they were sent.
   */
  waits?: boolean;
  /** The response body, or null when the protocol sends none (Produce with acks 0). */
  handle(request: Decoder, ctx: RequestContext): ResponseBody | Promise<ResponseBody>;
}
