import Joi from 'joi';
import { canonicalUuid } from '../lib/platform/id-schema.js';
import { ORDER_STATUSES, REFUND_STATUSES } from '../lib/domain/order-state.js';
import { ORDER_EVENT_TYPES, type OrderEventType } from '../lib/domain/order-events.js';
import { PAYMENT_STATUSES, type PaymentCallback } from '../lib/orders/record-payment-result.js';
import type { ErrorItem } from '../lib/platform/envelope.js';

/**
 * The API's shapes, once: the routes validate requests with these and api/openapi.ts turns the
 * same objects into the OpenAPI document, so the docs cannot drift from what is enforced.
 * Request schemas are `Joi.object<T, true>`: strict, so T's keys and the schema's must agree, and
 * validate() returns T (api/validate.ts).
 */
export const MAX_QUANTITY = 10000;
export const MAX_PAGE_SIZE = 100;

// Any UUID version (the OpenAPI `format: uuid` promises no more, Postgres stores them all, and keys
// chosen by clients or ids given by Catalog may be of any version), in the canonical form only
// (lib/domain/ids.ts). The format is stated for the document; the pattern is what is enforced.
const uuid = canonicalUuid.meta({ swagger: { format: 'uuid' } });
const money = Joi.string()
  .pattern(/^\d+\.\d{2}$/)
  .example('5.00');

export interface CreateOrderRequest {
  item_id: string;
  quantity: number;
  user_id: string;
  idempotency_key: string;
}

const userId = Joi.string()
  .min(1)
  .max(128)
  .pattern(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

export const createOrderBody = Joi.object<CreateOrderRequest, true>({
  item_id: uuid
    .required()
    .description('Catalog item id')
    // The development Catalog's sticker (scripts/peers/catalog.ts), so the example is an order.
    .example('5d1e4c3b-2a19-4f08-8e7d-6c5b4a392817'),
  quantity: Joi.number().integer().min(1).max(MAX_QUANTITY).required().example(2),
  user_id: userId.required().example('demo-user'),
  idempotency_key: uuid
    .required()
    .description('Client-chosen key: repeating a request with it returns the same order')
    .example('0190a0a0-0000-7000-8000-000000000002'),
})
  .required()
  .label('CreateOrderRequest');

export const orderIdParams = Joi.object<{ id: string }, true>({
  id: uuid.required().description('Order id'),
});

export const MAX_CANCEL_REASON = 500;

export interface CancelOrderRequest {
  user_id: string;
  reason?: string;
}

export const cancelOrderBody = Joi.object<CancelOrderRequest, true>({
  user_id: userId
    .required()
    .description("Must be the order's user; any other answers 404, as for an unknown order"),
  reason: Joi.string()
    .max(MAX_CANCEL_REASON)
    .description("The customer's reason, kept in the order's history"),
})
  .required()
  .label('CancelOrderRequest');

export interface ListOrdersQuery {
  user_id: string;
  limit: number;
  cursor?: string;
}

export const listOrdersQuery = Joi.object<ListOrdersQuery, true>({
  user_id: Joi.string().min(1).max(128).required(),
  limit: Joi.number().integer().min(1).max(MAX_PAGE_SIZE).default(20),
  cursor: Joi.string()
    .max(200)
    .pattern(/^[A-Za-z0-9_-]+$/)
    .description('Opaque: the next_cursor of the previous page'),
});

export const paymentCallbackBody = Joi.object<PaymentCallback, true>({
  id: Joi.string().min(1).max(200).required().description('Payment id'),
  user_id: Joi.string().max(200).allow('', null),
  order_id: uuid.required(),
  amount: Joi.string()
    .pattern(/^\d+(\.\d{1,2})?$/)
    .required()
    .description("Must equal the order's amount by value"),
  status: Joi.string()
    .valid(...PAYMENT_STATUSES)
    .required(),
  idempotency_key: uuid
    .required()
    .description('Must be the key this service sent Payments for the order'),
  created_at: Joi.string().isoDate().allow(null),
})
  // A field Payments adds later must not turn every callback into a 400 it would retry for ever.
  .unknown(true)
  .required()
  .label('PaymentCallback');

export const paymentCallbackResult = Joi.object({
  order_id: uuid,
  payment_id: Joi.string(),
  status: Joi.string().valid(...PAYMENT_STATUSES),
  outcome: Joi.string()
    .valid('recorded', 'duplicate', 'ignored')
    .description('ignored: pending changes nothing; duplicate: taken in before, nothing new'),
}).label('PaymentCallbackResult');

const refundStatus = Joi.string()
  .valid(...REFUND_STATUSES)
  .allow(null)
  .description('null while no refund is owed; requested, then refunded or failed');

const historyEntry = Joi.object({
  status: Joi.string().valid(...ORDER_STATUSES),
  refund_status: refundStatus,
  reason: Joi.string().allow(null),
  created_at: Joi.string().isoDate(),
}).label('StatusHistoryEntry');

export const orderResponse = Joi.object({
  id: uuid,
  user_id: Joi.string(),
  item_id: uuid,
  quantity: Joi.number().integer(),
  unit_price: money,
  amount: money,
  status: Joi.string().valid(...ORDER_STATUSES),
  shipment_id: Joi.string().allow(null),
  refund_status: refundStatus,
  cancel_requested_at: Joi.string()
    .isoDate()
    .allow(null)
    .description('When the customer asked to cancel; in `paid`, Shipping has not answered yet'),
  created_at: Joi.string().isoDate(),
  updated_at: Joi.string().isoDate(),
  history: Joi.array().items(historyEntry),
}).label('Order');

export const errorItem = Joi.object<ErrorItem, true>({
  code: Joi.string().required(),
  field: Joi.string().allow(null).required(),
  message: Joi.string().required(),
}).label('Error');

/** The one envelope of every response; `meta` always carries the request id, and a route's own
 * keys when it has any. */
export const envelope = (data: Joi.Schema, meta: Joi.ObjectSchema = Joi.object()) =>
  Joi.object({
    data: data.required(),
    meta: meta
      .keys({
        request_id: Joi.string().required().description('Also in the X-Request-Id header'),
      })
      .required(),
    errors: Joi.array().items(errorItem).required(),
  });

// Webhook subscriptions (admin API, docs/webhooks.md).

export const MAX_SUBSCRIBER_URL = 2048;
export const MAX_SUBSCRIPTION_DESCRIPTION = 500;
/** Every event, in a subscription's `events`. */
export const ALL_EVENTS = '*';

const subscriberUrl = Joi.string()
  .max(MAX_SUBSCRIBER_URL)
  .uri({ scheme: ['http', 'https'] })
  // What `uri({scheme})` enforces, stated for the document (joi-to-swagger does not carry it).
  .meta({ swagger: { format: 'uri', pattern: '^https?://' } })
  .description(
    'Where events are POSTed: http or https, no user name or password; loopback, private and ' +
      'link-local addresses are refused unless WEBHOOK_ALLOW_PRIVATE_URLS is on',
  )
  .example('https://erp.example.com/hooks/orders');

// Either form is an array, but joi types alternatives as their own kind of schema, which a strict
// Joi.object<T, true> refuses for an array key: the cast states what both alternatives accept.
const subscribedEvents = Joi.alternatives()
  .try(
    Joi.array().items(Joi.string().valid(ALL_EVENTS)).length(1),
    Joi.array()
      .items(Joi.string().valid(...ORDER_EVENT_TYPES))
      .min(1)
      .unique(),
  )
  .messages({
    'alternatives.types': `{{#label}} must be an array: ["${ALL_EVENTS}"] or a list of events`,
    'alternatives.match': `{{#label}} must be ["${ALL_EVENTS}"] or a non-empty list of distinct events of: ${ORDER_EVENT_TYPES.join(', ')}`,
  })
  .description(`The events sent; ["${ALL_EVENTS}"] for all`)
  .example(['order.paid', 'order.shipped']) as unknown as Joi.ArraySchema<SubscribedEvents>;

const subscriptionDescription = Joi.string()
  .allow('')
  .max(MAX_SUBSCRIPTION_DESCRIPTION)
  .description('For people: whose system it is, what it does with the events')
  .example('Warehouse ERP');

export type SubscribedEvents = (OrderEventType | typeof ALL_EVENTS)[];

export interface CreateWebhookSubscriptionRequest {
  url: string;
  events: SubscribedEvents;
  description?: string;
}

export const createWebhookSubscriptionBody = Joi.object<CreateWebhookSubscriptionRequest, true>({
  url: subscriberUrl.required(),
  events: subscribedEvents.required(),
  description: subscriptionDescription,
})
  .required()
  .label('CreateWebhookSubscriptionRequest');

export interface UpdateWebhookSubscriptionRequest {
  url?: string;
  events?: SubscribedEvents;
  description?: string;
  active?: boolean;
}

export const updateWebhookSubscriptionBody = Joi.object<UpdateWebhookSubscriptionRequest, true>({
  url: subscriberUrl,
  events: subscribedEvents,
  description: subscriptionDescription,
  active: Joi.boolean().description(
    'true turns a disabled subscription back on and clears disabled_reason and disabled_at',
  ),
})
  .min(1)
  .required()
  .label('UpdateWebhookSubscriptionRequest');

export const webhookSubscriptionIdParams = Joi.object<{ id: string }, true>({
  id: uuid.required().description('Subscription id'),
});

// Delivery ids are a bigserial; beyond 2^53 a JavaScript number would not hold them exactly.
const deliveryId = Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER);

export const webhookDeliveryParams = Joi.object<{ id: string; delivery_id: number }, true>({
  id: uuid.required().description('Subscription id'),
  delivery_id: deliveryId.required().description('Delivery attempt id, from the deliveries list'),
});

export interface ListWebhookDeliveriesQuery {
  limit: number;
  before?: number;
}

export const listWebhookDeliveriesQuery = Joi.object<ListWebhookDeliveriesQuery, true>({
  limit: Joi.number().integer().min(1).max(MAX_PAGE_SIZE).default(20),
  before: deliveryId.description(
    'Only attempts older than this id: the next_before of the previous page',
  ),
});

export const webhookSubscriptionResponse = Joi.object({
  id: uuid,
  url: Joi.string(),
  events: Joi.array().items(Joi.string()),
  description: Joi.string().allow(''),
  active: Joi.boolean(),
  disabled_reason: Joi.string()
    .allow(null)
    .description('Why it stopped (410 Gone, the retry window, an admin); null while active'),
  disabled_at: Joi.string().isoDate().allow(null),
  previous_secret_expires_at: Joi.string()
    .isoDate()
    .allow(null)
    .description('Until then the secret replaced by the last rotation signs too'),
  created_at: Joi.string().isoDate(),
  updated_at: Joi.string().isoDate(),
}).label('WebhookSubscription');

export const webhookSubscriptionWithSecret = webhookSubscriptionResponse
  .keys({
    secret: Joi.string()
      .pattern(/^whsec_[A-Za-z0-9+/]+=*$/)
      .description('The signing secret (Standard Webhooks), shown only in this answer'),
  })
  .label('WebhookSubscriptionWithSecret');

export const webhookDeliveryResponse = Joi.object({
  id: Joi.number().integer(),
  outbox_id: Joi.number().integer().allow(null),
  message_id: Joi.string().description('The webhook-id header, the same on every attempt'),
  order_id: uuid.allow(null),
  event_type: Joi.string(),
  attempt: Joi.number().integer(),
  outcome: Joi.string().valid('delivered', 'failed', 'gone', 'skipped'),
  status_code: Joi.number().integer().allow(null),
  latency_ms: Joi.number().integer().allow(null),
  response_excerpt: Joi.string().allow('', null).description("The answer's first bytes"),
  error: Joi.string().allow(null),
  created_at: Joi.string().isoDate(),
}).label('WebhookDelivery');

export const redeliveryResponse = Joi.object({
  subscription_id: uuid,
  delivery_id: Joi.number().integer(),
  outbox_id: Joi.number().integer().description('The new outbox row carrying the event again'),
  message_id: Joi.string().description('The same webhook-id as the original delivery'),
}).label('Redelivery');
