import { v7 as uuidv7 } from 'uuid';
import type { Executor } from './client.js';
import { WEBHOOKS_QUEUE } from './outbox/events.js';
import { run, statement } from './statement.js';

/**
 * What the delivery of order webhooks reads and writes of webhook_subscriptions (the admin API's
 * writes are in db/webhook-subscription-admin.ts; the attempts in db/webhook-deliveries.ts). One
 * statement before a send (this file) and one after it, beside the runner's one.
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
