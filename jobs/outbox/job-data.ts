/**
 * What every outbox job carries: enough that a processor never reads the payload back from
 * Postgres. The BullMQ job id is derived from the row's job id (outbox.job_id, a uuid), so adding
 * the same row twice is a no-op while the first job is still in Redis, and a row that reuses an
 * earlier row's serial id (a restored database) never meets that row's job.
 */
export interface OutboxJobData {
  outboxId: number;
  /**
   * The row's job id (outbox.job_id). A job acts on row `outboxId` only while the row carries the
   * same: absent in jobs made before rows had one.
   */
  jobId: string;
  orderId: string | null;
  idempotencyKey: string;
  payload: Record<string, unknown>;
}

/** The BullMQ job id of a row. BullMQ rejects ids with ':' and all-digit ids: this is neither. */
export function outboxJobId(rowJobId: string): string {
  return `outbox-${rowJobId}`;
}

/** True when the job's data was made from this row (not from an earlier row under its id). */
export function isJobOfRow(
  data: Partial<Pick<OutboxJobData, 'outboxId' | 'jobId'>>,
  row: { id: number; jobId: string },
): boolean {
  return data.outboxId === row.id && data.jobId === row.jobId;
}
