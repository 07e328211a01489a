import { randomBytes, randomUUID } from 'node:crypto';
import { and, desc, eq, getTableColumns, lt, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { currentTraceparent } from '../lib/platform/trace-context.js';
import type { Db, Executor } from './client.js';
import { OUTBOX_CHANNEL } from './outbox/events.js';
import {
  webhookDeliveries,
  webhookSubscriptions,
  type WebhookDeliveryRow,
  type WebhookSubscriptionRow,
} from './schema.js';

/**
 * The admin API's reads and writes of webhook subscriptions and their delivery attempts. None of
 * it runs per order, so it is drizzle's builder (the delivery path reads the subscriptions
 * through db/webhook-subscriptions.ts). Secrets leave this module only in what `create` and
 * `rotate` return, once; every other read leaves them out of the SELECT itself.
 */

/** How long a rotated-out secret keeps signing beside the new one. */
export const PREVIOUS_SECRET_OVERLAP_HOURS = 24;

/** A subscription as shown to an admin: every column but the secrets. */
export type WebhookSubscription = Omit<WebhookSubscriptionRow, 'secret' | 'previousSecret'>;

const {
  secret: _secret,
  previousSecret: _previous,
  ...shownColumns
} = getTableColumns(webhookSubscriptions);

/** A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface NewSubscription {
  url: string;
  events: string[];
  description?: string;
}

/** A new, active subscription (UUIDv7 id) with a fresh secret, returned once here. */
export async function createSubscription(
  db: Executor,
  fields: NewSubscription,
): Promise<{ subscription: WebhookSubscription; secret: string }> {
  const secret = newSigningSecret();
  const [subscription] = await db
    .insert(webhookSubscriptions)
    .values({
      id: uuidv7(),
      url: fields.url,
      events: fields.events,
      description: fields.description ?? '',
      secret,
    })
    .returning(shownColumns);
  return { subscription: subscription!, secret };
}

/** Every subscription, oldest first (ids are UUIDv7: id order is creation order). */
export async function listSubscriptions(db: Executor): Promise<WebhookSubscription[]> {
  return db.select(shownColumns).from(webhookSubscriptions).orderBy(webhookSubscriptions.id);
}

export async function findSubscription(
  db: Executor,
  id: string,
): Promise<WebhookSubscription | undefined> {
  const [row] = await db
    .select(shownColumns)
    .from(webhookSubscriptions)
    .where(eq(webhookSubscriptions.id, id));
  return row;
}

export interface SubscriptionChanges {
  url?: string;
  events?: string[];
  description?: string;
  active?: boolean;
}

/** Why a subscription turned off through the admin API says so. */
export const ADMIN_DISABLED_REASON = 'deactivated through the admin API';

/**
 * Applies the changes given; undefined when there is no such subscription. Turning it on clears
 * why and when it stopped (a 410, the retry window, an admin); turning off an active one records
 * that an admin did, and leaves an earlier reason in place.
 */
export async function updateSubscription(
  db: Executor,
  id: string,
  changes: SubscriptionChanges,
): Promise<WebhookSubscription | undefined> {
  const { active, ...fields } = changes;
  const s = webhookSubscriptions;
  const activation =
    active === undefined
      ? {}
      : active
        ? { active, disabledReason: null, disabledAt: null }
        : {
            active,
            disabledReason: sql`coalesce(${s.disabledReason}, ${ADMIN_DISABLED_REASON})`,
            disabledAt: sql`coalesce(${s.disabledAt}, now())`,
          };
  const [row] = await db
    .update(s)
    .set({ ...fields, ...activation, updatedAt: sql`now()` })
    .where(eq(s.id, id))
    .returning(shownColumns);
  return row;
}

/** True when it existed. Its delivery attempts go with it (foreign key, on delete cascade). */
export async function deleteSubscription(db: Executor, id: string): Promise<boolean> {
  const rows = await db
    .delete(webhookSubscriptions)
    .where(eq(webhookSubscriptions.id, id))
    .returning({ id: webhookSubscriptions.id });
  return rows.length > 0;
}

/**
 * A new secret; the current one becomes the previous, which keeps signing for
 * PREVIOUS_SECRET_OVERLAP_HOURS (a secret rotated out earlier stops at once). Undefined when
 * there is no such subscription.
 */
export async function rotateSubscriptionSecret(
  db: Executor,
  id: string,
): Promise<{ subscription: WebhookSubscription; secret: string } | undefined> {
  const secret = newSigningSecret();
  const s = webhookSubscriptions;
  const [subscription] = await db
    .update(s)
    .set({
      secret,
      previousSecret: sql`${s.secret}`,
      previousSecretExpiresAt: sql`now() + make_interval(hours => ${PREVIOUS_SECRET_OVERLAP_HOURS})`,
      updatedAt: sql`now()`,
    })
    .where(eq(s.id, id))
    .returning(shownColumns);
  return subscription && { subscription, secret };
}

/** A subscription's delivery attempts, newest first, those before `beforeId` when given. */
export async function listDeliveries(
  db: Executor,
  subscriptionId: string,
  { limit, beforeId }: { limit: number; beforeId?: number },
): Promise<WebhookDeliveryRow[]> {
  const d = webhookDeliveries;
  return db
    .select()
    .from(d)
    .where(
      and(
        eq(d.subscriptionId, subscriptionId),
        beforeId === undefined ? undefined : lt(d.id, beforeId),
      ),
    )
    .orderBy(desc(d.id))
    .limit(limit);
}

export type RedeliveryResult =
  | { outcome: 'queued'; outboxId: number; messageId: string }
  | { outcome: 'no_subscription' }
  | { outcome: 'no_delivery' }
  | { outcome: 'inactive' }
  | { outcome: 'event_gone'; messageId: string };

/**
 * Sends a delivery's event again: a new outbox row, a copy of the one that carried it (its queue,
 * event, order and payload: the same webhook-id and body), under a new random idempotency key,
 * and a NOTIFY to wake the relay, in one statement. The copy is not held back behind later events
 * of the same order. The original row must still hold the delivery's message id: retention may
 * have deleted it, and a restored database may have given its serial id to another row.
 */
export async function redeliver(
  db: Db,
  subscriptionId: string,
  deliveryId: number,
): Promise<RedeliveryResult> {
  return db.transaction(async (tx) => {
    // Shared lock: a concurrent PATCH or DELETE waits until the copy is written or refused.
    const [subscription] = await tx
      .select({ active: webhookSubscriptions.active })
      .from(webhookSubscriptions)
      .where(eq(webhookSubscriptions.id, subscriptionId))
      .for('share');
    if (!subscription) return { outcome: 'no_subscription' };
    const [delivery] = await tx
      .select({ outboxId: webhookDeliveries.outboxId, messageId: webhookDeliveries.messageId })
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.id, deliveryId),
          eq(webhookDeliveries.subscriptionId, subscriptionId),
        ),
      );
    if (!delivery) return { outcome: 'no_delivery' };
    if (!subscription.active) return { outcome: 'inactive' };
    const { messageId } = delivery;
    if (delivery.outboxId === null) return { outcome: 'event_gone', messageId };
    const copied = await tx.execute<{ id: number | string }>(sql`
      with ins as (
        insert into outbox (queue, event_type, order_id, idempotency_key, payload, traceparent)
        select queue, event_type, order_id, ${randomUUID()}::uuid, payload,
          ${currentTraceparent()}::text
        from outbox
        where id = ${delivery.outboxId} and payload->>'message_id' = ${messageId}
        returning id),
      wake as (select pg_notify(${OUTBOX_CHANNEL}, '') from ins)
      select ins.id from ins, wake`);
    const [row] = copied.rows;
    if (!row) return { outcome: 'event_gone', messageId };
    return { outcome: 'queued', outboxId: Number(row.id), messageId };
  });
}
