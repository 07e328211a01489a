import type { Db } from '../../db/client.js';
import { markOutboxUndispatchable } from '../../db/outbox/rows.js';
import {
  findOpenDispatched,
  markRedispatched,
  type DispatchableRow,
} from '../../db/outbox/dispatch.js';
import type { Logger } from '../../lib/platform/logger.js';
import { isQueueName } from '../../db/outbox/events.js';
import { isJobOfRow, outboxJobId } from './job-data.js';
import { enqueueRows } from './enqueue.js';
import { rerunUnjudged } from './unjudged-failure.js';
import { periodic } from '../periodic.js';
import { queueFor, type ShardedQueues } from './queues.js';

/**
 * Puts back what Redis lost or BullMQ gave up on by itself. An outbox row dispatched more than
 * `afterMs` ago and still neither completed nor failed should have a live job in BullMQ (waiting,
 * active, or delayed for a retry). When the job is gone (a Redis flush, a failover that lost
 * writes) the row is enqueued again under the same job id (and so is a row whose job id holds a
 * job made from other data). When the job is failed, it was failed without a verdict of this
 * service (unjudged-failure.ts: BullMQ's "stalled more than allowable limit", say), and it is run
 * again. Postgres stays the truth, so losing Redis, or BullMQ failing a job, loses no work.
 */
export interface ReconcilerOptions {
  db: Db;
  queues: ShardedQueues;
  logger: Logger;
  /** How long a dispatched row may stay open before its job is checked. */
  afterMs: number;
  everyMs: number;
  /** Rows checked per page. @defaultValue 500 */
  batchSize?: number;
  /** @defaultValue 5000 */
  enqueueTimeoutMs?: number;
}

export interface ReconcileResult {
  checked: number;
  /** Rows whose job was missing, enqueued again. */
  requeued: number;
  /** Rows whose job was failed without a verdict on the row, put back to run again. */
  rerun: number;
}

export interface Reconciler {
  start(): void;
  stop(): Promise<void>;
  /** One full pass over the open dispatched rows. */
  runOnce(): Promise<ReconcileResult>;
}

const LIVE_STATES: ReadonlySet<string> = new Set([
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
]);

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const { db, queues, afterMs } = options;
  const batchSize = options.batchSize ?? 500;
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 5000;
  const log = options.logger.child({ component: 'reconciler' });

  /**
   * Sorts rows by what became of their job. A job is live when it is in one of BullMQ's live sets
   * and its data was made from this row. A failed job of this row is run again if the row still
   * has no verdict (read after the job was seen failed); when it has one, it is ops' business and
   * the row is not open any more. Rows of unknown queues go on to be rejected. A flush during a
   * job's run can leave a stale job hash in no set (its worker's late writes recreate part of it),
   * a completed job cannot belong to an open row, and a job carrying another row's data would be
   * refused by the processor: all are removed, so the re-add under the same id is not ignored.
   * A failed job under an id of an earlier scheme is never looked at: its row gets a job of its own.
   */
  async function sortByJob(
    rows: DispatchableRow[],
  ): Promise<{ missing: DispatchableRow[]; rerun: DispatchableRow[] }> {
    const fates = await Promise.all(
      rows.map(async (row): Promise<'live' | 'rerun' | 'missing'> => {
        if (!isQueueName(row.queue)) return 'missing';
        const queue = queueFor(queues, row.queue, row.orderId);
        const jobId = outboxJobId(row.jobId);
        const state = await queue.getJobState(jobId);
        if (LIVE_STATES.has(state) || state === 'failed') {
          // Undefined when the job finished and was removed since (or its data does not parse).
          const job = await queue.getJob(jobId).catch(() => undefined);
          if (job && isJobOfRow(job.data, row)) {
            if (state !== 'failed') return 'live';
            return (await rerunUnjudged(db, job, log)) ? 'rerun' : 'live';
          }
          if (job) {
            log.warn(
              { outbox_id: row.id, job_id: jobId, job_outbox_id: job.data.outboxId },
              'the job under this row’s id carries another row’s data; replacing it',
            );
          }
        }
        await queue.remove(jobId);
        return 'missing';
      }),
    );
    return {
      missing: rows.filter((_, i) => fates[i] === 'missing'),
      rerun: rows.filter((_, i) => fates[i] === 'rerun'),
    };
  }

  async function requeue(rows: DispatchableRow[]): Promise<number> {
    const { enqueued, rejected } = await enqueueRows(queues, rows, enqueueTimeoutMs);
    await markRedispatched(
      db,
      enqueued.map(({ row }) => row.id),
    );
    for (const { row, error } of rejected) {
      await markOutboxUndispatchable(db, row.id, error);
      log.error({ outbox_id: row.id, queue: row.queue, error }, 'outbox row cannot be enqueued');
    }
    if (enqueued.length > 0) {
      log.warn(
        { count: enqueued.length, outbox_ids: enqueued.slice(0, 20).map(({ row }) => row.id) },
        'jobs missing from Redis; outbox rows enqueued again',
      );
    }
    return enqueued.length;
  }

  async function runOnce(): Promise<ReconcileResult> {
    const result: ReconcileResult = { checked: 0, requeued: 0, rerun: 0 };
    let afterId = 0;
    for (;;) {
      const rows = await findOpenDispatched(db, {
        olderThanMs: afterMs,
        afterId,
        limit: batchSize,
      });
      if (rows.length === 0) return result;
      afterId = rows[rows.length - 1]!.id;
      result.checked += rows.length;
      const { missing, rerun } = await sortByJob(rows);
      if (missing.length > 0) result.requeued += await requeue(missing);
      // Restarts their clock, as for a re-added row: the next passes leave the re-run job alone.
      await markRedispatched(
        db,
        rerun.map((row) => row.id),
      );
      result.rerun += rerun.length;
      if (rows.length < batchSize) return result;
    }
  }

  const schedule = periodic('reconciler', options.everyMs, runOnce, log);
  return { start: schedule.start, stop: schedule.stop, runOnce };
}
