import { once } from 'node:events';
import { createQueues, type QueueSet } from '../jobs/outbox/queues.js';
import { closeRedis, createRedis, redisTargetOf, type RedisClient } from '../jobs/redis.js';
import type { Config } from '../lib/platform/config.js';
import type { Logger } from '../lib/platform/logger.js';

export interface WebRedis {
  /** The queues Bull Board shows, when the board is on. */
  queueSet?: QueueSet;
  connection: RedisClient;
  close(): Promise<void>;
}

/**
 * The web process's Redis: the board's producer-side queues when the board is on (or the caller's),
 * else one fail-fast connection for the readiness check alone. Made only when needed because a
 * BullMQ Queue writes its meta key on construction.
 */
export function openWebRedis(
  config: Config,
  logger: Logger,
  given: QueueSet | undefined,
  boardOn: boolean,
): WebRedis {
  const ownQueues = !given && boardOn ? createQueues(config, logger) : undefined;
  const queueSet = given ?? ownQueues;
  if (queueSet) {
    return { queueSet, connection: queueSet.connection, close: async () => ownQueues?.close() };
  }
  const connection = createRedis(redisTargetOf(config), 'producer', 'order-service:web');
  // ioredis emits 'error' on every failed reconnect; the readiness check reports Redis down.
  connection.on('error', (err) => logger.debug({ err }, 'redis connection error'));
  return { connection, close: () => closeRedis(connection) };
}

/** Below the readiness check's own 2 s bound, so a slow connect reports as itself. */
const REDIS_READY_WAIT_MS = 1500;

export async function pingRedis(connection: RedisClient): Promise<void> {
  // The fail-fast producer connection refuses commands until it is ready: just after start, or
  // during a reconnect, wait for it (a failed attempt's 'error' rejects at once) rather than
  // report a healthy Redis as down.
  if (connection.status !== 'ready') {
    await once(connection, 'ready', { signal: AbortSignal.timeout(REDIS_READY_WAIT_MS) });
  }
  await connection.ping();
}
