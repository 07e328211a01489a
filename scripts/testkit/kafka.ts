/**
 * Kafka for tests. KAFKA_TEST_BROKER picks the broker:
 * - `real`: Apache Kafka from Maven Central (scripts/kafka/), started once per test run and
 *   shared; tests keep apart through unique topic and group names.
 * - `embedded`: the in-repo broker (scripts/kafka-broker/), in this process.
 * Unset, it is `real` when Java and Maven are on the PATH, else `embedded`. `real` never falls
 * back: when Apache Kafka cannot start, every test that needs Kafka fails.
 *
 * Also: kafkajs clients pointed at a broker, and ways to wait on consumer events instead of
 * sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type EachMessagePayload,
  type KafkaConfig,
} from 'kafkajs';
import { deferred, waitFor } from './wait.js';
import type { LogLevelString } from 'bunyan';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { startBroker, type BrokerOptions, type RunningBroker } from '../kafka-broker/broker.js';
import { javaAndMavenPresent } from '../kafka/classpath.js';
import {
  startKafkaCluster,
  type KafkaCluster,
  type KafkaClusterOptions,
} from '../kafka/cluster.js';

export type { RunningBroker } from '../kafka-broker/broker.js';
export type { KafkaCluster } from '../kafka/cluster.js';

/** Consumer settings that keep group tests quick: Kafka's shortest session timeout, frequent
 * heartbeats, and a short long-poll so a member notices a rebalance soon. */
export const FAST_CONSUMER = {
  sessionTimeout: 6000,
  heartbeatInterval: 500,
  rebalanceTimeout: 10000,
  maxWaitTimeInMs: 500,
} as const;

export type TestBrokerKind = 'real' | 'embedded';

/** What a test needs of a broker, whichever kind it is. */
export interface TestBroker {
  kind: TestBrokerKind;
  /** `host:port` of the first node, for kafkajs's `brokers` or KAFKA_BOOTSTRAP_SERVERS. */
  address: string;
  /** Apache Kafka's version, or `in-repo`. */
  version: string;
}

let kindChosen: Promise<TestBrokerKind> | undefined;

/** The kind this run uses (see the top of this file). */
export function testBrokerKind(): Promise<TestBrokerKind> {
  kindChosen ??= (async () => {
    const asked = process.env.KAFKA_TEST_BROKER;
    if (asked === 'real' || asked === 'embedded') return asked;
    if (asked) throw new Error(`KAFKA_TEST_BROKER must be real or embedded, not ${asked}`);
    return (await javaAndMavenPresent()) ? 'real' : 'embedded';
  })();
  return kindChosen;
}

function embeddedBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const level = process.env.KAFKA_TEST_BROKER_LOG as LogLevelString | undefined;
  const logger = level ? createLogger({ name: 'kafka-test-broker', level }) : silentLogger();
  return startBroker({ logger, ...options });
}

function realCluster(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  const onOutput = process.env.KAFKA_TEST_BROKER_LOG
    ? (node: number, line: string) => process.stderr.write(`[kafka ${node}] ${line}\n`)
    : undefined;
  return startKafkaCluster({ onOutput, ...options });
}

let shared: Promise<TestBroker & { stop(): Promise<void> }> | undefined;

/**
 * The run's shared broker, started on first use and stopped when mocha ends (test/support/hooks.ts).
 * Never stop it from a test; use unique topic and group names instead.
 */
export function sharedTestBroker(): Promise<TestBroker> {
  shared ??= (async () => {
    const kind = await testBrokerKind();
    if (kind === 'embedded') {
      const broker = await embeddedBroker();
      return { kind, address: broker.address, version: 'in-repo', stop: () => broker.stop() };
    }
    const cluster = await realCluster();
    return {
      kind,
      address: cluster.brokers[0]!,
      version: cluster.version,
      stop: () => cluster.stop(),
    };
  })();
  return shared;
}

/** Stops the shared broker if this run started one. */
export async function stopSharedTestBroker(): Promise<void> {
  const running = shared;
  shared = undefined;
  if (running) await (await running).stop();
}

/** A broker of this test's own, for tests that stop and start it. */
export interface PrivateTestBroker extends TestBroker {
  /** Stops it; Apache Kafka with a controlled shutdown, its data kept for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port. Apache Kafka keeps its topics and committed offsets; the
   * in-repo broker has no persistence and starts empty. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
}

export async function startPrivateTestBroker(): Promise<PrivateTestBroker> {
  const kind = await testBrokerKind();
  if (kind === 'embedded') {
    let broker = await embeddedBroker();
    const port = broker.port;
    return {
      kind,
      address: broker.address,
      version: 'in-repo',
      stop: () => broker.stop(),
      async start() {
        broker = await embeddedBroker({ port });
      },
      destroy: () => broker.stop(),
    };
  }
  const cluster = await realCluster({ keepData: true });
  const node = cluster.nodes[0]!;
  return {
    kind,
    address: node.address,
    version: cluster.version,
    stop: () => node.stop(),
    start: () => node.start(),
    async destroy() {
      await node.kill();
      const { rm } = await import('node:fs/promises');
      await rm(cluster.dataDir, { recursive: true, force: true });
    },
  };
}

/** The in-repo broker itself, for tests of the in-repo broker (its stats, its wire answers). */
export function startEmbeddedBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  return embeddedBroker(options);
}

/** Apache Kafka with the given shape (several nodes, SSL or SASL listeners), for tests of those;
 * `real` runs only. The caller stops it. */
export function startRealCluster(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  return realCluster(options);
}

/** A kafkajs client for the broker, quiet and quick to give up. */
export function testKafka(
  broker: { address: string },
  overrides: Partial<KafkaConfig> = {},
): Kafka {
  return new Kafka({
    clientId: uniqueName('test-client'),
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 50, maxRetryTime: 1000 },
    ...overrides,
  });
}

/**
 * The service's topic and group variables with names no other test uses, plus a group for the
 * development Shipping peer: on a shared broker, tests must not read each other's messages.
 */
export function uniqueKafkaNames() {
  const suffix = randomBytes(4).toString('hex');
  return {
    env: {
      KAFKA_SHIPPING_REQUESTS_TOPIC: `shipping.requests.${suffix}`,
      KAFKA_SHIPPING_RESPONSES_TOPIC: `shipping.responses.${suffix}`,
      KAFKA_GROUP_ID: `order-service-${suffix}`,
    },
    shippingPeer: {
      requestsTopic: `shipping.requests.${suffix}`,
      responsesTopic: `shipping.responses.${suffix}`,
      groupId: `dev-shipping-${suffix}`,
    },
  };
}

/**
 * For a suite's `before` hook: skips the suite, saying why, unless this run uses Apache Kafka
 * (CI runs `real`).
 */
export async function skipUnlessApacheKafka(ctx: Mocha.Context, why: string): Promise<void> {
  if ((await testBrokerKind()) === 'real') return;
  process.stderr.write(`  skipped: needs Apache Kafka (KAFKA_TEST_BROKER=real): ${why}\n`);
  ctx.skip();
}

/** Figures of a failover test (takeover time, redeliveries) for a person watching a run; printed
 * only with KAFKA_FAILOVER_REPORT set. */
export function reportFigures(what: string, figures: Record<string, unknown>): void {
  if (process.env.KAFKA_FAILOVER_REPORT) {
    process.stderr.write(`  [${what}] ${JSON.stringify(figures)}\n`);
  }
}

/** A topic or group name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export type Assignment = Record<string, number[]>;

/** Connects a kafkajs client, and puts its disconnect on the test's `cleanups` (run after it). */
export async function connected<
  T extends { connect(): Promise<void>; disconnect(): Promise<void> },
>(client: T, cleanups: (() => Promise<unknown>)[]): Promise<T> {
  cleanups.push(() => client.disconnect());
  await client.connect();
  return client;
}

/** A consumer's assigned partitions of `topic`, in ascending order. */
export const partitionsOf = (a: Assignment, topic: string): number[] =>
  [...(a[topic] ?? [])].sort((x, y) => x - y);

/**
 * An `eachMessage` handler that keeps every message as `record` makes it, in arrival order;
 * `reached(n)` resolves once n have arrived.
 */
export function collector<T>(record: (payload: EachMessagePayload) => T) {
  const messages: T[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  return {
    messages,
    eachMessage: async (payload: EachMessagePayload) => {
      messages.push(record(payload));
      for (const w of waiters) if (messages.length >= w.count) w.resolve();
    },
    reached(count: number): Promise<void> {
      const d = deferred();
      if (messages.length >= count) d.resolve();
      else waiters.push({ count, resolve: d.resolve });
      return d.promise;
    },
  };
}

/** Resolves with the assignment of the consumer's next group join that satisfies `accept`. */
export function nextAssignment(
  consumer: Consumer,
  accept: (assignment: Assignment) => boolean = () => true,
): Promise<Assignment> {
  return new Promise((resolve) => {
    const stop = consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assignment = payload.memberAssignment as Assignment;
      if (!accept(assignment)) return;
      stop();
      resolve(assignment);
    });
  });
}

/** Resolves after the consumer's next completed fetch: its starting offsets are then resolved. */
export function nextFetch(consumer: Consumer): Promise<void> {
  return new Promise((resolve) => {
    const stop = consumer.on(consumer.events.FETCH, () => {
      stop();
      resolve();
    });
  });
}

/**
 * A kafkajs consumer (FAST_CONSUMER settings) in a child process, so it can be killed with no
 * chance to leave its group: its session has to expire. `assigned` resolves with the partitions
 * of `topic` it is first given (a join that gives it none is not an answer).
 */
export function startChildConsumer(
  brokerAddress: string,
  topic: string,
  groupId: string,
): { process: ChildProcess; assigned: Promise<number[]> } {
  const code = `
    import { Kafka, logLevel } from 'kafkajs';
    const [brokerAddress, topic, groupId] = process.argv.slice(1);
    const kafka = new Kafka({ brokers: [brokerAddress], clientId: 'doomed', logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId, ...${JSON.stringify(FAST_CONSUMER)} });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
      console.log(JSON.stringify(payload.memberAssignment)));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
  `;
  const child: ChildProcess = spawn(
    process.execPath,
    ['--input-type=module', '-e', code, brokerAddress, topic, groupId],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const assigned = new Promise<number[]>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`child consumer exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parts = (JSON.parse(line) as Assignment)[topic] ?? [];
      if (parts.length > 0) resolve(parts);
    });
  });
  return { process: child, assigned };
}

/**
 * Resolves once every partition of a new topic answers ListOffsets. Apache Kafka's CreateTopics
 * (and kafkajs's wait for leaders in its metadata) can complete a moment before the broker acts
 * as the new partitions' leader; ListOffsets then gets NOT_LEADER_FOR_PARTITION, which kafkajs's
 * admin.fetchTopicOffsets does not retry. Producers and consumers do retry it.
 */
export async function untilServed(admin: Admin, topic: string): Promise<void> {
  const leaderMoving = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE']);
  await waitFor(
    async () => {
      try {
        await admin.fetchTopicOffsets(topic);
        return true;
      } catch (err) {
        if (leaderMoving.has((err as { type?: string }).type ?? '')) return false;
        throw err;
      }
    },
    { timeoutMs: 5000, intervalMs: 50, what: `the partitions of ${topic} served` },
  );
}
