import type { Db } from '../db/client.js';
import { deleteProcessedInbox } from '../db/inbox.js';
import { deleteCompletedOutbox } from '../db/outbox/rows.js';
import { deleteOldWebhookDeliveries } from '../db/webhook-deliveries.js';
import type { Logger } from '../lib/platform/logger.js';
import { pause, periodic } from './periodic.js';

/**
 * Keeps the outbox, the inbox and the webhook delivery attempts small under years of traffic:
 * deletes completed outbox rows, processed inbox rows and webhook_deliveries rows older than
 * `ageHours`, a small batch per statement with a pause between
 * batches, so it never holds many locks or competes with the hot path for long. Open, failed and
 * unprocessed rows are never touched.
 */
export interface RetentionOptions {
  db: Db;
  logger: Logger;
  ageHours: number;
  everyMs: number;
  batchSize: number;
  /** Between two delete batches. @defaultValue 50 */
  pauseMs?: number;
}

export interface RetentionResult {
  outbox: number;
  inbox: number;
  webhookDeliveries: number;
}

export interface Retention {
  start(): void;
  stop(): Promise<void>;
  /** Deletes everything old enough, batch by batch; stops early when stop() is called. */
  runOnce(): Promise<RetentionResult>;
}

export function createRetention(options: RetentionOptions): Retention {
  const { db, ageHours, batchSize } = options;
  const pauseMs = options.pauseMs ?? 50;
  const log = options.logger.child({ component: 'retention' });
  let stopping = new AbortController();

  async function inBatches(deleteBatch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await deleteBatch();
      total += deleted;
      if (deleted < batchSize || stopping.signal.aborted) return total;
      await pause(pauseMs, stopping.signal);
    }
  }

  async function runOnce(): Promise<RetentionResult> {
    const limits = { olderThanHours: ageHours, limit: batchSize };
    const outbox = await inBatches(() => deleteCompletedOutbox(db, limits));
    const inbox = await inBatches(() => deleteProcessedInbox(db, limits));
    const webhookDeliveries = await inBatches(() => deleteOldWebhookDeliveries(db, limits));
    if (outbox + inbox + webhookDeliveries > 0) {
      log.info(
        { outbox, inbox, webhook_deliveries: webhookDeliveries, age_hours: ageHours },
        'old rows deleted',
      );
    }
    return { outbox, inbox, webhookDeliveries };
  }

  const schedule = periodic('retention', options.everyMs, runOnce, log);
  return {
    start() {
      stopping = new AbortController();
      schedule.start();
    },
    async stop() {
      stopping.abort();
      await schedule.stop();
    },
    runOnce,
  };
}
