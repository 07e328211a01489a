/**
 * What every outbox job carries: enough that a processor never reads the payload back from
 * Postgres. The job id is derived from the outbox id, so adding the same row twice is a no-op
 * while the first job is still in Redis.
 */
export interface OutboxJobData {
  outboxId: number;
  orderId: string | null;
  idempotencyKey: string;
  payload: Record<string, unknown>;
}

/** BullMQ rejects ids with ':' and all-digit ids; `outbox-<id>` is neither. */
export function outboxJobId(outboxId: number): string {
  return `outbox-${outboxId}`;
}
