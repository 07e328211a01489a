/**
 * Kafka helpers for tests: the in-repo broker on a free port, kafkajs clients pointed at it, and
 * ways to wait on consumer events instead of sleeping.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer, type KafkaConfig } from 'kafkajs';
import type { LogLevelString } from 'bunyan';
import { createLogger, silentLogger } from '../../lib/logger.js';
import {
  startBroker,
  type BrokerOptions,
  type RunningBroker,
} from '../../scripts/kafka-broker/broker.js';

export type { RunningBroker } from '../../scripts/kafka-broker/broker.js';

/** Consumer settings that keep group tests quick: Kafka's shortest session timeout, frequent
 * heartbeats, and a short long-poll so a member notices a rebalance soon. */
export const FAST_CONSUMER = {
  sessionTimeout: 6000,
  heartbeatInterval: 500,
  rebalanceTimeout: 10000,
  maxWaitTimeInMs: 500,
} as const;

/**
 * The broker on 127.0.0.1 and a free port. Silent unless a logger is given or
 * KAFKA_TEST_BROKER_LOG names a level (e.g. debug: every request it serves).
 */
export function startTestBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const level = process.env.KAFKA_TEST_BROKER_LOG as LogLevelString | undefined;
  const logger = level ? createLogger({ name: 'kafka-test-broker', level }) : silentLogger();
  return startBroker({ logger, ...options });
}

/** A kafkajs client for the broker, quiet and quick to give up. */
export function testKafka(broker: RunningBroker, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: uniqueName('test-client'),
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 50, maxRetryTime: 1000 },
    ...overrides,
  });
}

/** A topic or group name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export type Assignment = Record<string, number[]>;

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

/** A promise with its resolve exposed, for "the handler has seen enough" conditions. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects with `message` if `promise` has not settled within `ms`, so a stuck wait fails with a
 * reason rather than mocha's generic timeout. */
export async function within<T>(ms: number, promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (waited ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
