import type { Job } from 'bullmq';
import type { Db } from '../../db/client.js';
import { getOutboxState } from '../../db/outbox/rows.js';
import type { Logger } from '../../lib/platform/logger.js';
import { isJobOfRow, type OutboxJobData } from './job-data.js';

/**
 * A failed job whose outbox row is still open (neither completed nor failed) was failed without
 * this service's judgement: the runner records its verdict on the row before it throws to BullMQ.
 * That is BullMQ failing it by itself (stalled more than `maxStalledCount` times: its worker died
 * twice while it ran, and the processor never ran the last time), a verdict that could not be
 * written (Postgres failed as the row was marked), or a row ops re-opened by clearing `failed_at`.
 * Such a job is put back to wait under its own id: its data, its first-added time (so the retry
 * window still counts from then) and its attempts in Bull Board stay as they were.
 *
 * Call it only once the job was seen failed: the row is read after that, so a verdict the runner
 * wrote is seen (a row read before could still be open while the runner was about to judge it).
 * Returns true when the job was put back; false when the row has a verdict (the failed job is ops'
 * business), is gone or is another row's, or the job had left the failed set meanwhile (ops retried
 * it, or another worker or the reconciler did this first).
 */
export async function rerunUnjudged(
  db: Db,
  job: Job<OutboxJobData, unknown, string>,
  log: Logger,
): Promise<boolean> {
  const { data } = job;
  const row = await getOutboxState(db, data.outboxId);
  if (!row || row.completed || row.failed) return false;
  if (!isJobOfRow(data, { id: data.outboxId, jobId: row.jobId })) return false;
  const reason = job.failedReason;
  try {
    await job.retry('failed');
  } catch (err) {
    // reprocessJob refuses a job that is no longer in the failed set.
    if ((await job.getState()) !== 'failed') return false;
    throw err;
  }
  log.warn(
    {
      job_id: job.id,
      outbox_id: data.outboxId,
      order_id: data.orderId,
      failed_reason: reason,
      stalled: job.stalledCounter,
    },
    'job failed without a verdict on its outbox row; running it again',
  );
  return true;
}
