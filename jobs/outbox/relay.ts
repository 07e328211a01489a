import type { Db } from '../../db/client.js';
import { markClaimedUndispatchable, withClaimedRows } from '../../db/outbox/dispatch.js';
import type { Logger } from '../../lib/platform/logger.js';
import { retry } from '../../lib/platform/retry.js';
import { OUTBOX_CHANNEL, type QueueName } from '../../db/outbox/events.js';
import { enqueueRows } from './enqueue.js';
import { createPgListener } from './pg-listener.js';
import type { ShardedQueues } from './queues.js';

/**
 * The outbox relay: moves committed outbox rows into BullMQ. Woken at once by NOTIFY on commit,
 * with a slow poll as the fallback for a missed notification. A row written to run later (a
 * payment check) is claimed once it is due: each claim says when the next one falls due, and a
 * timer wakes the relay then (when that comes before the next poll, which learns it again). Each
 * batch claims rows and marks them dispatched in one committed statement (FOR UPDATE SKIP LOCKED,
 * id order), then addBulk; when addBulk fails the rows are released (undispatched again) and the
 * batch is retried with backoff (db/outbox/dispatch.ts says what covers a release that fails).
 * Several relays claim disjoint rows; a row added twice is added under the same job id, which
 * BullMQ ignores while the first job is still there.
 */
export interface RelayOptions {
  db: Db;
  /**
   * For the dedicated LISTEN connection: a direct one, past any pooler (a notification reaches
   * only the session that listens, and transaction pooling gives no session to keep).
   */
  databaseUrl: string;
  queues: ShardedQueues;
  logger: Logger;
  /** Rows per transaction. @defaultValue 500 */
  batchSize?: number;
  /** Fallback poll for missed notifications. @defaultValue 1000 */
  pollMs?: number;
  /** Bound on one addBulk round; past it the batch is released. @defaultValue 5000 */
  enqueueTimeoutMs?: number;
  /** First retry delay after a failed batch (Redis down, say); doubles up to retryMaxMs. @defaultValue 100 */
  retryMinMs?: number;
  /** @defaultValue 5000 */
  retryMaxMs?: number;
  /**
   * A drain failed with a bug (a programming error): the relay stops instead of retrying, since
   * the bug would fail the same way for ever while the outbox backs up. The worker entry exits
   * for a restart.
   */
  onFatal?(err: Error): void;
  /** Per enqueued row, after commit: commit-to-enqueue latency, for metrics. */
  onEnqueued?(event: { queue: QueueName; lagMs: number }): void;
}

export interface DrainResult {
  /** Rows added to BullMQ and marked dispatched. */
  enqueued: number;
  /** Rows marked failed because they cannot become jobs. */
  rejected: number;
}

export interface Relay {
  /** LISTENs, drains what is waiting, and keeps draining on every wake-up until stop(). */
  start(): Promise<void>;
  /** Stops waking, waits for the running batch, closes the LISTEN connection. */
  stop(): Promise<void>;
  /** Dispatches batches until one comes back short; throws when a batch fails (its rows released). */
  drainOnce(): Promise<DrainResult>;
}

export function createRelay(options: RelayOptions): Relay {
  const { db, queues, onEnqueued } = options;
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 1000;
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 5000;
  const backoff = { minMs: options.retryMinMs ?? 100, maxMs: options.retryMaxMs ?? 5000 };
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('batchSize must be ≥ 1');
  const log = options.logger.child({ component: 'outbox-relay' });

  let stopped = true;
  let stopping = new AbortController();
  let draining: Promise<void> | undefined;
  let wokenWhileDraining = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let dueTimer: NodeJS.Timeout | undefined;
  /** From the last claim: when the next row waiting to run later falls due. */
  let nextDueInMs: number | null = null;

  const listener = createPgListener({
    url: options.databaseUrl,
    channel: OUTBOX_CHANNEL,
    logger: log,
    applicationName: 'order-service-relay',
    onNotify: () => wake(),
    // Notifications sent while disconnected are lost: catch up.
    onConnected: () => wake(),
  });

  async function dispatchBatch(): Promise<{ claimed: number } & DrainResult> {
    const outcome = await withClaimedRows(
      db,
      batchSize,
      async (rows, tx, info) => {
        nextDueInMs = info.nextDueInMs;
        if (rows.length === 0) return { claimed: 0, enqueued: [], rejected: [], claimedAt: 0 };
        const claimedAt = Date.now();
        const { enqueued, rejected } = await enqueueRows(queues, rows, enqueueTimeoutMs);
        for (const { row, error } of rejected) await markClaimedUndispatchable(tx, row.id, error);
        return { claimed: rows.length, enqueued, rejected, claimedAt };
      },
      (err, ids) =>
        log.error(
          { err, outbox_ids: ids },
          'claimed outbox rows could not be released after a failed batch; the reconciler re-adds them',
        ),
    );
    for (const { row, error } of outcome.rejected) {
      log.error(
        { outbox_id: row.id, queue: row.queue, order_id: row.orderId, error },
        'outbox row cannot be enqueued; marked failed',
      );
    }
    if (onEnqueued) {
      const sinceClaim = Date.now() - outcome.claimedAt;
      for (const { row, queue } of outcome.enqueued) {
        onEnqueued({ queue, lagMs: row.ageMs + sinceClaim });
      }
    }
    return {
      claimed: outcome.claimed,
      enqueued: outcome.enqueued.length,
      rejected: outcome.rejected.length,
    };
  }

  async function drainOnce(): Promise<DrainResult> {
    const total: DrainResult = { enqueued: 0, rejected: 0 };
    for (;;) {
      const batch = await dispatchBatch();
      total.enqueued += batch.enqueued;
      total.rejected += batch.rejected;
      if (batch.claimed < batchSize) return total;
    }
  }

  /**
   * Runs drains until no wake-up arrived during the last one. A failed drain (its rows released) is
   * retried with backoff; wake-ups meanwhile only ask for one more drain after it, instead of
   * hammering a Redis that just failed.
   */
  async function drainLoop(): Promise<void> {
    do {
      wokenWhileDraining = false;
      let failures = 0;
      try {
        await retry(drainOnce, {
          backoff,
          signal: stopping.signal,
          onRetry: (err, attempt) => {
            failures = attempt;
            log.error({ err, failures }, 'outbox relay batch failed; rows released; retrying');
          },
        });
      } catch (err) {
        if (stopping.signal.aborted) return;
        // Only a bug gets here (retry() gives up on nothing else): the relay stops waking.
        log.error({ err }, 'outbox relay failed with a bug; stopping it');
        stopped = true;
        clearInterval(pollTimer);
        clearTimeout(dueTimer);
        options.onFatal?.(err as Error);
        return;
      }
      if (failures > 0) log.info({ failures }, 'outbox relay recovered');
    } while (wokenWhileDraining && !stopped);
    armDueTimer();
  }

  /**
   * Wakes the relay when the next row waiting to run later falls due. Past the next poll it is
   * left to the poll, whose drain learns the time again: one timer, never a long one.
   */
  function armDueTimer(): void {
    clearTimeout(dueTimer);
    dueTimer = undefined;
    if (stopped || nextDueInMs === null || nextDueInMs > pollMs) return;
    dueTimer = setTimeout(wake, Math.max(0, Math.ceil(nextDueInMs)));
  }

  /** Coalesces wake-ups: one drain at a time, plus at most one more for everything meanwhile. */
  function wake(): void {
    if (stopped) return;
    if (draining) {
      wokenWhileDraining = true;
      return;
    }
    draining = drainLoop().finally(() => {
      draining = undefined;
    });
  }

  return {
    async start() {
      if (!stopped) return;
      stopped = false;
      stopping = new AbortController();
      pollTimer = setInterval(wake, pollMs);
      await listener.start();
      // The listener drains on connect; when the first connect failed, drain anyway.
      wake();
    },
    async stop() {
      stopped = true;
      clearInterval(pollTimer);
      clearTimeout(dueTimer);
      stopping.abort();
      await listener.stop();
      await draining;
    },
    drainOnce,
  };
}
