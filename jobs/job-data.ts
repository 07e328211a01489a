import {
  QUEUE_NAMES,
  type InboxApplyPayload,
  type NotificationPayload,
  type PaymentRequestPayload,
  type QueueName,
  type ShippingRequestPayload,
} from '../lib/domain/outbox-events.js';

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

export function isQueueName(value: unknown): value is QueueName {
  return (QUEUE_NAMES as readonly unknown[]).includes(value);
}

/** A payload that breaks its queue's contract: retrying cannot fix it. */
export class InvalidJobPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

type Shape = Record<string, 'string' | 'number' | 'integer'>;

const SHAPES: Record<QueueName, Shape> = {
  payments: { order_id: 'string', amount: 'string', idempotency_key: 'string' },
  notifications: { event: 'string', order_id: 'string', user_id: 'string', message: 'string' },
  shipping: {
    event_type: 'string',
    order_id: 'string',
    item_id: 'string',
    quantity: 'integer',
    idempotency_key: 'string',
  },
  inbox: { inbox_id: 'integer' },
};

function problem(value: unknown, type: Shape[string]): string | undefined {
  if (type === 'integer') return Number.isSafeInteger(value) ? undefined : 'must be an integer';
  if (typeof value !== type) return `must be a ${type}`;
  if (type === 'string' && (value as string).length === 0) return 'must not be empty';
  return undefined;
}

/** Each queue's payload, as lib/domain/outbox-events.ts builds it. */
export interface QueuePayloads {
  payments: PaymentRequestPayload;
  notifications: NotificationPayload;
  shipping: ShippingRequestPayload;
  inbox: InboxApplyPayload;
}

/** Checks a payload against its queue's shape; throws InvalidJobPayloadError naming each field. */
export function parsePayload<Q extends QueueName>(queue: Q, payload: unknown): QueuePayloads[Q] {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new InvalidJobPayloadError(`${queue} payload must be an object`);
  }
  const problems = Object.entries(SHAPES[queue]).flatMap(([field, type]) => {
    const p = problem((payload as Record<string, unknown>)[field], type);
    return p ? [`${field} ${p}`] : [];
  });
  if (problems.length) {
    throw new InvalidJobPayloadError(`${queue} payload: ${problems.join(', ')}`);
  }
  return payload as unknown as QueuePayloads[Q];
}
