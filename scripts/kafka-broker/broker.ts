/**
 * A single-node, in-memory broker that speaks the Kafka wire protocol: enough of it for kafkajs
 * 2.2.4's producer (idempotent too), consumer groups and admin client, over real TCP.
 *
 * TEST AND DEVELOPMENT TOOL ONLY. Production uses real Kafka. This machine can run neither Kafka
 * nor Docker, and the tests and the development mode must still exercise the real kafkajs client
 * rather than stubs; so this broker lives under scripts/ beside the other tools, is started
 * in-process by scripts/testkit/kafka.ts and scripts/dev.ts, and alone by `npm run dev:kafka`
 * (main.ts). Nothing under api/, jobs/ or lib/ imports it. No replication, no persistence, no
 * transactions, no SASL/TLS; committed offsets and messages vanish when it stops. README.md
 * lists what it implements and how it differs from Apache Kafka, which
 * scripts/kafka-broker/test/conformance.test.ts checks.
 */
import { silentLogger, type Logger } from '../../lib/platform/logger.js';
import { GroupCoordinator } from './groups.js';
import { OffsetStore } from './offsets.js';
import type { Broker, BrokerStats } from './handler.js';
import { createHandlers } from './handlers/index.js';
import { ProducerRegistry } from './producers.js';
import { listen } from './server.js';
import { TopicStore } from './topics.js';

export type { BrokerStats } from './handler.js';

export interface BrokerOptions {
  /** @defaultValue 0: any free port; the bound one is in the result. */
  port?: number;
  /** Interface to bind (and to advertise in Metadata). @defaultValue '127.0.0.1' */
  host?: string;
  /** Requests are logged at debug level. @defaultValue a silent logger */
  logger?: Logger;
  /** Partitions of a topic created on first use or without a count. @defaultValue 3 */
  defaultPartitions?: number;
  /** Shortest consumer session timeout accepted (Kafka's group.min.session.timeout.ms).
   * @defaultValue 6000 */
  minSessionTimeoutMs?: number;
  /** @defaultValue 1800000, Kafka's group.max.session.timeout.ms */
  maxSessionTimeoutMs?: number;
  /** Largest record batch accepted (Kafka's message.max.bytes). @defaultValue 1048588 */
  maxMessageBytes?: number;
  /** Per partition; older batches are dropped beyond it. @defaultValue 64 MiB */
  retentionBytes?: number;
}

export interface RunningBroker {
  host: string;
  port: number;
  /** `host:port`, for kafkajs's `brokers`. */
  address: string;
  /** Live counters, updated as the broker serves. */
  stats: BrokerStats;
  stop(): Promise<void>;
}

const NODE_ID = 1;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

export async function startBroker({
  port = 0,
  host = '127.0.0.1',
  logger: parentLogger = silentLogger(),
  defaultPartitions = 3,
  minSessionTimeoutMs = 6000,
  maxSessionTimeoutMs = 1_800_000,
  maxMessageBytes = 1_048_588,
  retentionBytes = 64 * 1024 * 1024,
}: BrokerOptions = {}): Promise<RunningBroker> {
  if (!Number.isInteger(defaultPartitions) || defaultPartitions < 1) {
    throw new Error(`defaultPartitions must be a positive integer, got ${defaultPartitions}`);
  }
  if (minSessionTimeoutMs > maxSessionTimeoutMs) {
    throw new Error('minSessionTimeoutMs must not exceed maxSessionTimeoutMs');
  }
  const logger = parentLogger.child({ component: 'kafka-test-broker' });
  const stats: BrokerStats = { connections: 0, requests: 0, fetchResponses: 0, producedBatches: 0 };
  const broker: Broker = {
    nodeId: NODE_ID,
    // Set once bound: handlers read them per request, and none is served before then.
    host,
    port,
    settings: { defaultPartitions, maxMessageBytes },
    topics: new TopicStore(retentionBytes),
    groups: new GroupCoordinator({ logger, minSessionTimeoutMs, maxSessionTimeoutMs }),
    offsets: new OffsetStore(),
    producers: new ProducerRegistry(),
    stats,
    logger,
  };
  const server = await listen({ host, port, handlers: createHandlers(broker), stats, logger });
  // Clients connect to what Metadata advertises, so it must be an address they can reach.
  broker.host = WILDCARD_HOSTS.has(server.host) ? '127.0.0.1' : server.host;
  broker.port = server.port;
  logger.info(
    { host: broker.host, port: broker.port },
    'In-repo Kafka-protocol broker listening: a test and development tool, not for production',
  );

  let stopping: Promise<void> | undefined;
  return {
    host: broker.host,
    port: broker.port,
    address: `${broker.host}:${broker.port}`,
    stats,
    stop() {
      stopping ??= (async () => {
        // Connections are cut first (synchronously), so no request can start a group timer
        // after the coordinator has stopped them all.
        const closed = server.close();
        broker.groups.close();
        await closed;
        logger.info({ port: broker.port }, 'In-repo Kafka-protocol broker stopped');
      })();
      return stopping;
    },
  };
}
