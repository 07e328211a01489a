import type { Executor } from './client.js';
import { deleteOlderThan, type AgeLimits } from './delete-old.js';
import { outboxCompletedText } from './outbox/rows.js';
import { webhookDeliveries } from './schema.js';
import { run, statement } from './statement.js';

/**
 * webhook_deliveries: one row per attempt to deliver an order event (jobs/processors/webhooks.ts
 * writes them; the admin API and the journey read them), deleted by retention with the other
 * journals.
 */

export const DELIVERY_OUTCOMES = ['delivered', 'failed', 'gone', 'skipped'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export interface DeliveryAttempt {
  subscriptionId: string;
  outboxId: number;
  messageId: string;
  orderId: string;
  eventType: string;
  /** 1-based, as BullMQ counts the job's attempts. */
  attempt: number;
  outcome: DeliveryOutcome;
  statusCode?: number;
  error?: string;
  latencyMs?: number;
  responseExcerpt?: string;
}

export interface AttemptEffects {
  /** Completes the job's outbox row in the same statement (the attempt ended the delivery). */
  complete?: { jobId: string };
  /** Disables the subscription with this reason (a 410). */
  disable?: string;
}

const attemptColumns = `(subscription_id, outbox_id, message_id, order_id, event_type, attempt,
     outcome, status_code, error, latency_ms, response_excerpt)`;

// A deleted subscription's attempt is not recorded: its deliveries went with it (on delete cascade).
// FOR KEY SHARE reads the subscription as it is now, waiting for a delete in progress: a plain read
// would see the row a concurrent delete just removed, and the foreign key would refuse the insert
// (23503), failing the job for good over a subscription deleted mid-delivery.
const attemptRecorded = (complete: boolean) =>
  statement<{ recorded: number; disabled: number }>(
    complete ? 'webhook_attempt_recorded_completed' : 'webhook_attempt_recorded',
    `with d as (
       insert into webhook_deliveries ${attemptColumns}
       select s.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
       from webhook_subscriptions s where s.id = $1
       for key share
       returning id
     ), off as (
       update webhook_subscriptions
       set active = false, disabled_reason = $12, disabled_at = now(), updated_at = now()
       where $12::text is not null and id = $1 and active
       returning id
     )${complete ? `, done as (${outboxCompletedText('$2', '$13')})` : ''}
     select (select count(*) from d)::int as recorded, (select count(*) from off)::int as disabled`,
  );
const attemptOnly = attemptRecorded(false);
const attemptCompleting = attemptRecorded(true);

/**
 * Records one attempt, and what it ended, in one statement. Returns whether it disabled the
 * subscription (false when it was inactive already).
 */
export async function recordDeliveryAttempt(
  ex: Executor,
  a: DeliveryAttempt,
  effects: AttemptEffects = {},
): Promise<{ disabled: boolean }> {
  const values = [
    a.subscriptionId,
    a.outboxId,
    a.messageId,
    a.orderId,
    a.eventType,
    a.attempt,
    a.outcome,
    a.statusCode ?? null,
    a.error ?? null,
    a.latencyMs ?? null,
    a.responseExcerpt ?? null,
    effects.disable ?? null,
  ];
  const [row] = effects.complete
    ? await run(ex, attemptCompleting, [...values, effects.complete.jobId])
    : await run(ex, attemptOnly, values);
  return { disabled: (row?.disabled ?? 0) > 0 };
}

/** Deletes up to `limit` delivery attempts older than `olderThanHours`; returns how many. */
export async function deleteOldWebhookDeliveries(ex: Executor, limits: AgeLimits): Promise<number> {
  return deleteOlderThan(
    ex,
    webhookDeliveries,
    { id: webhookDeliveries.id, at: webhookDeliveries.createdAt },
    limits,
  );
}
