import type { DispatchableRow } from '../../db/outbox/dispatch.js';
import { withinMs } from '../../lib/platform/timeout.js';
import { isQueueName, parsePayload, type QueueName } from '../../db/outbox/events.js';
import { outboxJobId, type OutboxJobData } from './job-data.js';
import { queueFor, type OutboxQueue, type ShardedQueues } from './queues.js';
import { jobTelemetryOf } from '../telemetry.js';

/**
 * Adds outbox rows to their queues: one addBulk per queue shard (the order's, see queues.ts), all
 * at once. Shared by the relay and the reconciler so a row becomes the same job (same id, same
 * data, same shard) either way.
 */
export interface EnqueuedRow {
  row: DispatchableRow;
  queue: QueueName;
}

export interface RejectedRow {
  row: DispatchableRow;
  error: string;
}

export interface EnqueueResult {
  enqueued: EnqueuedRow[];
  /** Rows that can never become jobs (unknown queue, payload breaking its queue's contract). */
  rejected: RejectedRow[];
}

export class EnqueueTimeoutError extends Error {
  constructor(ms: number) {
    super(`adding jobs to Redis took longer than ${ms} ms`);
    this.name = new.target.name;
  }
}

/** Groups the enqueueable rows by queue, and sets apart the others with the reason. */
function groupEnqueueable(rows: DispatchableRow[]): {
  byQueue: Map<QueueName, DispatchableRow[]>;
  rejected: RejectedRow[];
} {
  const byQueue = new Map<QueueName, DispatchableRow[]>();
  const rejected: RejectedRow[] = [];
  for (const row of rows) {
    if (!isQueueName(row.queue)) {
      rejected.push({ row, error: `unknown queue ${JSON.stringify(row.queue)}` });
      continue;
    }
    try {
      parsePayload(row.queue, row.payload);
    } catch (err) {
      rejected.push({ row, error: (err as Error).message });
      continue;
    }
    const list = byQueue.get(row.queue) ?? [];
    list.push(row);
    byQueue.set(row.queue, list);
  }
  return { byQueue, rejected };
}

function jobOf(row: DispatchableRow) {
  const data: OutboxJobData = {
    outboxId: row.id,
    jobId: row.jobId,
    orderId: row.orderId,
    idempotencyKey: row.idempotencyKey,
    payload: row.payload as Record<string, unknown>,
  };
  return {
    name: row.eventType,
    data,
    opts: {
      jobId: outboxJobId(row.jobId),
      // The relay claims a row only once its run_after has come, so this is 0 from it; a row
      // enqueued before its time still waits in BullMQ's delayed set till then.
      ...(row.delayMs > 0 && { delay: Math.ceil(row.delayMs) }),
      ...jobTelemetryOf(row.traceparent),
    },
  };
}

/**
 * Throws when Redis fails or does not answer within `timeoutMs` (a Queue whose connection never
 * became ready waits instead of failing; the bound keeps a relay transaction from staying open).
 * A job that already exists under the same id is left as it is: re-adding is a no-op.
 */
export async function enqueueRows(
  queues: ShardedQueues,
  rows: DispatchableRow[],
  timeoutMs: number,
): Promise<EnqueueResult> {
  const { byQueue, rejected } = groupEnqueueable(rows);
  const byShard = new Map<OutboxQueue, DispatchableRow[]>();
  for (const [name, list] of byQueue) {
    for (const row of list) {
      const shard = queueFor(queues, name, row.orderId);
      byShard.set(shard, [...(byShard.get(shard) ?? []), row]);
    }
  }
  const adds = [...byShard].map(([queue, list]) => queue.addBulk(list.map(jobOf)));
  await withinMs(Promise.all(adds), timeoutMs, () => {
    throw new EnqueueTimeoutError(timeoutMs);
  });
  const enqueued = [...byQueue].flatMap(([queue, list]) => list.map((row) => ({ row, queue })));
  return { enqueued, rejected };
}
