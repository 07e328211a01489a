import { Router } from 'express';
import type { Db } from '../../db/client.js';
import type { WebhookDeliveryRow } from '../../db/schema.js';
import {
  createSubscription,
  deleteSubscription,
  findSubscription,
  listDeliveries,
  listSubscriptions,
  redeliver,
  rotateSubscriptionSecret,
  updateSubscription,
  type WebhookSubscription,
} from '../../db/webhook-subscription-admin.js';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/domain/errors.js';
import { subscriberUrlProblem } from '../../lib/peers/subscriber-address.js';
import { send } from '../envelope.js';
import {
  createWebhookSubscriptionBody,
  listWebhookDeliveriesQuery,
  updateWebhookSubscriptionBody,
  webhookDeliveryParams,
  webhookSubscriptionIdParams,
} from '../schemas.js';
import { validate } from '../validate.js';

export const WEBHOOK_SUBSCRIPTIONS_PATH = '/api/v1/webhook-subscriptions';

export interface WebhookSubscriptionsRouteDeps {
  db: Db;
  /** WEBHOOK_ALLOW_PRIVATE_URLS: loopback and private addresses may be subscribed. */
  allowPrivateUrls: boolean;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** A subscription as the API shows it: never its secrets (the db module does not read them). */
function subscriptionJson(s: WebhookSubscription) {
  return {
    id: s.id,
    url: s.url,
    events: s.events,
    description: s.description,
    active: s.active,
    disabled_reason: s.disabledReason,
    disabled_at: iso(s.disabledAt),
    previous_secret_expires_at: iso(s.previousSecretExpiresAt),
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  };
}

function deliveryJson(d: WebhookDeliveryRow) {
  return {
    id: d.id,
    outbox_id: d.outboxId,
    message_id: d.messageId,
    order_id: d.orderId,
    event_type: d.eventType,
    attempt: d.attempt,
    outcome: d.outcome,
    status_code: d.statusCode,
    latency_ms: d.latencyMs,
    response_excerpt: d.responseExcerpt,
    error: d.error,
    created_at: d.createdAt.toISOString(),
  };
}

const noSubscription = (id: string) =>
  new NotFoundError(`webhook subscription ${id} does not exist`, 'id');

/**
 * The admin API of client systems' webhook subscriptions (docs/webhooks.md): mounted at
 * WEBHOOK_SUBSCRIPTIONS_PATH behind the admin guard, and not at all when the admin surface is off.
 */
export function webhookSubscriptionsRouter(deps: WebhookSubscriptionsRouteDeps): Router {
  const { db } = deps;
  // The part of the URL rule joi cannot know: where it leads, which depends on the configuration.
  const checkUrl = (url: string | undefined) => {
    const problem =
      url === undefined ? undefined : subscriberUrlProblem(url, deps.allowPrivateUrls);
    if (problem) throw new ValidationError([{ field: 'url', message: problem }]);
  };
  const router = Router();

  router.post('/', async (req, res) => {
    const body = validate(createWebhookSubscriptionBody, req.body);
    checkUrl(body.url);
    const { subscription, secret } = await createSubscription(db, body);
    res.locals.log?.info(
      { subscription_id: subscription.id, events: subscription.events },
      'webhook subscription created',
    );
    send(res, 201, { ...subscriptionJson(subscription), secret });
  });

  router.get('/', async (_req, res) => {
    send(res, 200, (await listSubscriptions(db)).map(subscriptionJson));
  });

  router.get('/:id', async (req, res) => {
    const { id } = validate(webhookSubscriptionIdParams, req.params);
    const subscription = await findSubscription(db, id);
    if (!subscription) throw noSubscription(id);
    send(res, 200, subscriptionJson(subscription));
  });

  router.patch('/:id', async (req, res) => {
    const { id } = validate(webhookSubscriptionIdParams, req.params);
    const changes = validate(updateWebhookSubscriptionBody, req.body);
    checkUrl(changes.url);
    const subscription = await updateSubscription(db, id, changes);
    if (!subscription) throw noSubscription(id);
    res.locals.log?.info(
      { subscription_id: id, changed: Object.keys(changes), active: subscription.active },
      'webhook subscription changed',
    );
    send(res, 200, subscriptionJson(subscription));
  });

  router.delete('/:id', async (req, res) => {
    const { id } = validate(webhookSubscriptionIdParams, req.params);
    if (!(await deleteSubscription(db, id))) throw noSubscription(id);
    res.locals.log?.info({ subscription_id: id }, 'webhook subscription deleted');
    res.status(204).end();
  });

  router.post('/:id/rotate-secret', async (req, res) => {
    const { id } = validate(webhookSubscriptionIdParams, req.params);
    const rotated = await rotateSubscriptionSecret(db, id);
    if (!rotated) throw noSubscription(id);
    res.locals.log?.info(
      {
        subscription_id: id,
        previous_secret_expires_at: rotated.subscription.previousSecretExpiresAt,
      },
      'webhook subscription secret rotated',
    );
    send(res, 200, { ...subscriptionJson(rotated.subscription), secret: rotated.secret });
  });

  router.get('/:id/deliveries', async (req, res) => {
    const { id } = validate(webhookSubscriptionIdParams, req.params);
    const q = validate(listWebhookDeliveriesQuery, req.query, { convert: true });
    if (!(await findSubscription(db, id))) throw noSubscription(id);
    // One extra row tells whether another page exists without a count query.
    const rows = await listDeliveries(db, id, { limit: q.limit + 1, beforeId: q.before });
    const page = rows.slice(0, q.limit);
    const nextBefore = rows.length > q.limit ? (page.at(-1)?.id ?? null) : null;
    send(res, 200, page.map(deliveryJson), { limit: q.limit, next_before: nextBefore });
  });

  router.post('/:id/deliveries/:delivery_id/redeliver', async (req, res) => {
    const { id, delivery_id: deliveryId } = validate(webhookDeliveryParams, req.params, {
      convert: true,
    });
    const result = await redeliver(db, id, deliveryId);
    switch (result.outcome) {
      case 'no_subscription':
        throw noSubscription(id);
      case 'no_delivery':
        throw new NotFoundError(
          `delivery ${deliveryId} of webhook subscription ${id} does not exist`,
          'delivery_id',
        );
      case 'inactive':
        throw new ConflictError(
          `webhook subscription ${id} is inactive; turn it on (PATCH active: true) to redeliver`,
          'id',
        );
      case 'event_gone':
        throw new NotFoundError(
          `the event of delivery ${deliveryId} (${result.messageId}) is no longer kept: ` +
            'retention removed its outbox row',
          'delivery_id',
        );
      case 'queued':
        res.locals.log?.info(
          {
            subscription_id: id,
            delivery_id: deliveryId,
            outbox_id: result.outboxId,
            message_id: result.messageId,
          },
          'webhook redelivery queued',
        );
        send(res, 202, {
          subscription_id: id,
          delivery_id: deliveryId,
          outbox_id: result.outboxId,
          message_id: result.messageId,
        });
    }
  });

  return router;
}
