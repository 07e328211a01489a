import { v7 as uuidv7 } from 'uuid';
import type { Executor } from './client.js';
import { deleteOlderThan, type AgeLimits } from './delete-old.js';
import { webhookDeliveries } from './schema.js';
import { outboxCompletedText } from './outbox/rows.js';
import { WEBHOOKS_QUEUE } from './outbox/events.js';
import { run, statement } from './statement.js';

/**
 * What the delivery of order webhooks reads and writes of webhook_subscriptions and
 * webhook_deliveries (the admin API's writes are in db/webhook-subscription-admin.ts). One
 * statement before a send and one after it, so a delivery costs the runner's two more.
 */

export interface SubscriptionToSend {
  url: string;
  active: boolean;
  secret: string;
  /** Only while the rotation's overlap lasts (previous_secret_expires_at in the future). */
  previousSecret: string | null;
}

export interface DeliveryContext {
  /** Undefined when the subscription was deleted. */
  subscription?: SubscriptionToSend;
  /**
   * An earlier event of the same (subscription, order) not yet completed nor given up: this one
   * must wait for it. Its failed attempts so far tell how long its next retry is away.
   */
  waitingFor?: { outboxId: number; attempts: number };
}

// An original row's key is its message id's md5 (db/outbox/rows.ts); a redelivery's is random,
// and neither holds others back nor is held back.
const isOriginal = (row: string) =>
  `replace(${row}.idempotency_key::text, '-', '') = substr(${row}.payload->>'message_id', 5)`;

const deliveryContext = statement<{
  url: string | null;
  active: boolean | null;
  secret: string | null;
  previous_secret: string | null;
  waiting_id: number | string | null;
  waiting_attempts: number | null;
}>(
  'webhook_delivery_context',
  `select s.url, s.active, s.secret,
          case when s.previous_secret_expires_at > now() then s.previous_secret end
            as previous_secret,
          p.id as waiting_id, p.attempts as waiting_attempts
   from (select 1) one
   left join webhook_subscriptions s on s.id = $1
   left join lateral (
     select p.id, p.attempts from outbox p, outbox me
     where me.id = $3 and ${isOriginal('me')}
       and p.order_id = $2 and p.queue = '${WEBHOOKS_QUEUE}' and p.id < $3
       and p.completed_at is null and p.failed_at is null
       and p.payload->>'subscription_id' = $1::text and ${isOriginal('p')}
     order by p.id
     limit 1
   ) p on true`,
);

/** The subscription to send to and whether an earlier event of the order must go first. */
export async function webhookDeliveryContext(
  ex: Executor,
  ref: { subscriptionId: string; orderId: string; outboxId: number },
): Promise<DeliveryContext> {
  const [row] = await run(ex, deliveryContext, [ref.subscriptionId, ref.orderId, ref.outboxId]);
  if (!row) throw new Error('webhook_delivery_context returned no row');
  return {
    subscription:
      row.url === null
        ? undefined
        : {
            url: row.url,
            active: row.active === true,
            secret: row.secret!,
            previousSecret: row.previous_secret,
          },
    waitingFor:
      row.waiting_id === null
        ? undefined
        : { outboxId: Number(row.waiting_id), attempts: row.waiting_attempts ?? 0 },
  };
}

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
const attemptRecorded = (complete: boolean) =>
  statement<{ recorded: number; disabled: number }>(
    complete ? 'webhook_attempt_recorded_completed' : 'webhook_attempt_recorded',
    `with d as (
       insert into webhook_deliveries ${attemptColumns}
       select s.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
       from webhook_subscriptions s where s.id = $1
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

const subscriptionDisabled = statement<{ id: string }>(
  'webhook_subscription_disable',
  `update webhook_subscriptions
   set active = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
   where id = $1 and active
   returning id`,
);

/** Stops deliveries to a subscription; false when it was inactive or deleted already. */
export async function disableWebhookSubscription(
  ex: Executor,
  id: string,
  reason: string,
): Promise<boolean> {
  return (await run(ex, subscriptionDisabled, [id, reason])).length > 0;
}

export interface NewSubscription {
  url: string;
  events: string[];
  secret: string;
  description?: string;
  previousSecret?: string;
  previousSecretExpiresAt?: Date;
}

const subscriptionInserted = statement<{ id: string }>(
  'webhook_subscription_insert',
  `insert into webhook_subscriptions
     (id, url, events, secret, description, previous_secret, previous_secret_expires_at)
   values ($1, $2, $3::text[], $4, $5, $6, $7)
   returning id`,
);

/** A subscription as the admin API would store it; tests and the development mode write them. */
export async function insertWebhookSubscription(ex: Executor, s: NewSubscription): Promise<string> {
  const [row] = await run(ex, subscriptionInserted, [
    uuidv7(),
    s.url,
    s.events,
    s.secret,
    s.description ?? '',
    s.previousSecret ?? null,
    s.previousSecretExpiresAt ?? null,
  ]);
  return row!.id;
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
