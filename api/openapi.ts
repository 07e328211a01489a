// The OpenAPI document, generated from the joi schemas the routes validate with. Past 200 lines
// because every operation is declared here, in the one place a reader looks for the whole API.
import Joi from 'joi';
import joiToSwaggerModule from 'joi-to-swagger';
import {
  cancelOrderBody,
  createOrderBody,
  createWebhookSubscriptionBody,
  envelope,
  errorItem,
  listOrdersQuery,
  listWebhookDeliveriesQuery,
  orderIdParams,
  orderResponse,
  paymentCallbackBody,
  paymentCallbackResult,
  redeliveryResponse,
  updateWebhookSubscriptionBody,
  webhookDeliveryParams,
  webhookDeliveryResponse,
  webhookSubscriptionIdParams,
  webhookSubscriptionResponse,
  webhookSubscriptionWithSecret,
} from './schemas.js';

type Json = Record<string, unknown>;

// The package is CommonJS with `module.exports = fn` and also sets `.default`; its typings declare
// only the ES default, which under NodeNext resolution is the module object. Take `.default`.
const joiToSwagger = joiToSwaggerModule.default;

/** A joi object schema → OpenAPI parameters (`in: query|path`), from the same joi the routes use. */
function parameters(schema: Joi.ObjectSchema, where: 'query' | 'path'): Json[] {
  const { swagger } = joiToSwagger(schema);
  const props = (swagger.properties ?? {}) as Record<string, Json>;
  const required = new Set<string>((swagger.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
    ...(typeof s.description === 'string' && { description: s.description }),
  }));
}

const body = (schema: Joi.Schema) => ({
  required: true,
  content: { 'application/json': { schema: joiToSwagger(schema).swagger } },
});

const answer = (description: string, data?: Joi.Schema, meta?: Joi.ObjectSchema) => ({
  description,
  content: {
    'application/json': {
      schema: joiToSwagger(envelope(data ?? Joi.any().allow(null), meta)).swagger,
    },
  },
});

const failure = (description: string) => answer(description, Joi.any().allow(null));

const webhookHeader = (name: string, description: string, example: string): Json => ({
  name,
  in: 'header',
  required: false,
  description: `${description} Required when the service has a webhook secret.`,
  schema: { type: 'string', example },
});

const webhookHeaders = [
  webhookHeader(
    'webhook-id',
    'Message id, the same on every resend.',
    'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
  ),
  webhookHeader('webhook-timestamp', 'Unix seconds when signed.', '1750000000'),
  webhookHeader(
    'webhook-signature',
    'v1,<base64 HMAC-SHA256>.',
    'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  ),
];

const createdMeta = Joi.object({
  replayed: Joi.boolean().description('true when this answers an earlier identical request'),
});

/** What a created order leads to (also lets schemathesis's stateful phase chain the calls). */
const orderLinks = {
  GetOrder: { operationId: 'getOrder', parameters: { id: '$response.body#/data/id' } },
  ListUserOrders: {
    operationId: 'listOrders',
    parameters: { user_id: '$response.body#/data/user_id' },
  },
};

/** The admin credentials (ADMIN_USER, ADMIN_PASSWORD), as every admin operation requires them. */
const ADMIN_AUTH = 'adminBasic';

/**
 * An admin operation: Basic auth, and the answers of the admin guard (api/admin-guard.ts) beside
 * its own. Without admin credentials configured the whole path answers 404.
 */
const adminOperation = (op: Json & { responses: Json }): Json => ({
  ...op,
  tags: ['webhook subscriptions'],
  security: [{ [ADMIN_AUTH]: [] }],
  responses: {
    ...op.responses,
    401: failure('Admin credentials missing or wrong'),
    429: failure('Too many failed credential attempts from this address; see Retry-After'),
  },
});

/** What a subscription's answer leads to, for schemathesis's stateful phase to chain the calls. */
const subscriptionLinks = Object.fromEntries(
  [
    'getWebhookSubscription',
    'updateWebhookSubscription',
    'deleteWebhookSubscription',
    'rotateWebhookSubscriptionSecret',
    'listWebhookDeliveries',
  ].map((operationId) => [
    operationId,
    { operationId, parameters: { id: '$response.body#/data/id' } },
  ]),
);

const subscriptionPaths = {
  '/api/v1/webhook-subscriptions': {
    post: adminOperation({
      operationId: 'createWebhookSubscription',
      summary: 'Subscribe a client system to order events',
      description:
        'Answers with the subscription and its signing secret (`whsec_…`), shown only here and ' +
        'after a rotation. See docs/webhooks.md.',
      requestBody: body(createWebhookSubscriptionBody),
      responses: {
        201: {
          ...answer('Created; `secret` is shown only now', webhookSubscriptionWithSecret),
          links: subscriptionLinks,
        },
        400: failure('Invalid body (a refused url included); errors name each field'),
        413: failure('Body too large'),
        415: failure('Content-Type is not application/json'),
      },
    }),
    get: adminOperation({
      operationId: 'listWebhookSubscriptions',
      summary: 'Every webhook subscription, oldest first (never their secrets)',
      responses: {
        200: answer('The subscriptions', Joi.array().items(webhookSubscriptionResponse)),
      },
    }),
  },
  '/api/v1/webhook-subscriptions/{id}': {
    get: adminOperation({
      operationId: 'getWebhookSubscription',
      summary: 'One webhook subscription (never its secrets)',
      parameters: parameters(webhookSubscriptionIdParams, 'path'),
      responses: {
        200: answer('The subscription', webhookSubscriptionResponse),
        400: failure('Malformed id'),
        404: failure('No such subscription'),
      },
    }),
    patch: adminOperation({
      operationId: 'updateWebhookSubscription',
      summary: 'Change url, events, description or active',
      description:
        '`active: true` turns it back on and clears `disabled_reason` and `disabled_at`.',
      parameters: parameters(webhookSubscriptionIdParams, 'path'),
      requestBody: body(updateWebhookSubscriptionBody),
      responses: {
        200: answer('The changed subscription', webhookSubscriptionResponse),
        400: failure('Invalid id or body; errors name each field'),
        404: failure('No such subscription'),
        413: failure('Body too large'),
        415: failure('Content-Type is not application/json'),
      },
    }),
    delete: adminOperation({
      operationId: 'deleteWebhookSubscription',
      summary: 'Remove a subscription and its delivery attempts',
      parameters: parameters(webhookSubscriptionIdParams, 'path'),
      responses: {
        204: { description: 'Deleted' },
        400: failure('Malformed id'),
        404: failure('No such subscription'),
      },
    }),
  },
  '/api/v1/webhook-subscriptions/{id}/rotate-secret': {
    post: adminOperation({
      operationId: 'rotateWebhookSubscriptionSecret',
      summary: 'A new signing secret; the replaced one keeps signing for 24 hours',
      description:
        'Deliveries carry two signatures until `previous_secret_expires_at`: the new secret’s and ' +
        'the replaced one’s. A secret replaced by an earlier rotation stops signing at once.',
      parameters: parameters(webhookSubscriptionIdParams, 'path'),
      responses: {
        200: answer(
          'Rotated; `secret` is the new one, shown only now',
          webhookSubscriptionWithSecret,
        ),
        400: failure('Malformed id'),
        404: failure('No such subscription'),
      },
    }),
  },
  '/api/v1/webhook-subscriptions/{id}/deliveries': {
    get: adminOperation({
      operationId: 'listWebhookDeliveries',
      summary: "A subscription's delivery attempts, newest first",
      parameters: [
        ...parameters(webhookSubscriptionIdParams, 'path'),
        ...parameters(listWebhookDeliveriesQuery, 'query'),
      ],
      responses: {
        200: answer(
          'A page of attempts',
          Joi.array().items(webhookDeliveryResponse),
          Joi.object({
            limit: Joi.number(),
            next_before: Joi.number()
              .integer()
              .allow(null)
              .description('`before` of the next page; null on the last'),
          }),
        ),
        400: failure('Invalid id or query'),
        404: failure('No such subscription'),
      },
    }),
  },
  '/api/v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/redeliver': {
    post: adminOperation({
      operationId: 'redeliverWebhook',
      summary: 'Send a delivery’s event again (same webhook-id and body)',
      description:
        'Queues a new attempt at once, not held back behind later events of the same order.',
      parameters: parameters(webhookDeliveryParams, 'path'),
      responses: {
        202: answer('Queued', redeliveryResponse),
        400: failure('Invalid ids'),
        404: failure(
          'No such subscription, no such delivery of it, or its event is no longer kept (the message says which)',
        ),
        409: failure('The subscription is inactive'),
      },
    }),
  },
};

/** The OpenAPI 3 document, built at start-up from the request and response joi schemas. */
export function buildOpenApi(version: string): Json {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Order Service',
      version,
      description:
        'Creates and reads orders. Every response is an envelope `{data, meta, errors}`; errors name the field. ' +
        'Text that Postgres cannot store (NUL, unpaired UTF-16 surrogates) is refused with 400 naming where it is, ' +
        'in any field, known or not.',
    },
    paths: {
      '/api/v1/orders': {
        post: {
          operationId: 'createOrder',
          summary: 'Create an order',
          description:
            'Checks the item with Catalog, then stores the order and its outbox rows in one transaction. ' +
            'Repeating a request with the same idempotency_key returns the same order (200).',
          requestBody: body(createOrderBody),
          responses: {
            201: { ...answer('Created', orderResponse, createdMeta), links: orderLinks },
            200: {
              ...answer('Replay of an earlier identical request', orderResponse, createdMeta),
              links: orderLinks,
            },
            400: failure('Invalid request; errors name each field'),
            404: failure('Unknown item'),
            409: failure('Not enough stock, or idempotency_key reused with a different body'),
            413: failure('Body too large'),
            415: failure('Content-Type is not application/json'),
            502: failure('Catalog answered in a way this service cannot use; nothing written'),
            503: failure('Catalog unavailable; see Retry-After'),
          },
        },
        get: {
          operationId: 'listOrders',
          summary: "List a user's orders, newest first",
          parameters: parameters(listOrdersQuery, 'query'),
          responses: {
            200: answer(
              'A page of orders',
              Joi.array().items(orderResponse),
              Joi.object({ limit: Joi.number(), next_cursor: Joi.string().allow(null) }),
            ),
            400: failure('Invalid query'),
          },
        },
      },
      '/api/v1/orders/{id}': {
        get: {
          operationId: 'getOrder',
          summary: 'An order with its status history',
          parameters: parameters(orderIdParams, 'path'),
          responses: {
            200: answer('The order', orderResponse),
            400: failure('Malformed id'),
            404: failure('No such order'),
          },
        },
      },
      '/api/v1/orders/{id}/cancel': {
        post: {
          summary: 'Cancel an order (its customer only)',
          description:
            'In `new` the order is cancelled at once (200); a payment that succeeds later is ' +
            'refunded. In `paid` Shipping is asked to cancel (202, `cancel_requested_at` set): when ' +
            'it confirms, the order is cancelled and its payment refunded; when it has already ' +
            'shipped, the order ships and the customer is told the cancellation came too late. ' +
            'A repeat answers with the current state (`meta.replayed`). Refund progress shows in ' +
            '`refund_status` and the history.',
          parameters: parameters(orderIdParams, 'path'),
          requestBody: body(cancelOrderBody),
          responses: {
            200: answer(
              'Cancelled (now, or by an earlier identical request)',
              orderResponse,
              Joi.object({ replayed: Joi.boolean() }),
            ),
            202: answer(
              'Paid: cancellation requested from Shipping, awaiting its answer',
              orderResponse,
              Joi.object({ replayed: Joi.boolean() }),
            ),
            400: failure('Invalid id or body; errors name each field'),
            404: failure("No such order, or not this user's"),
            409: failure('Shipped, or cancelled for another reason (the message says which)'),
          },
        },
      },
      '/api/v1/orders/payment-callback': {
        post: {
          operationId: 'paymentCallback',
          summary: 'Payments webhook (Standard Webhooks signature when a secret is configured)',
          description:
            'Signed as Standard Webhooks: `webhook-signature` is `v1,` + base64 HMAC-SHA256 of ' +
            '`{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the decoded `whsec_` secret; ' +
            'several space-separated signatures may be sent. The timestamp must be within 5 minutes. ' +
            'A refund outcome comes here too: `status` `refunded` or `refund_failed`, `id` the ' +
            "payment refunded, `idempotency_key` the refund request's.",
          parameters: webhookHeaders,
          requestBody: body(paymentCallbackBody),
          responses: {
            200: answer(
              'Accepted (duplicates and pending too)',
              paymentCallbackResult,
              Joi.object({ duplicate: Joi.boolean() }),
            ),
            400: failure('Invalid body'),
            401: failure('Missing, bad or stale signature'),
            404: failure('Unknown order'),
            409: failure(
              'Amount, idempotency key or (for a refund) payment id differs from what was requested',
            ),
          },
        },
      },
      ...subscriptionPaths,
      '/health/live': {
        get: { operationId: 'live', summary: 'Process is up', responses: { 200: answer('Up') } },
      },
      '/health/ready': {
        get: {
          operationId: 'ready',
          summary: 'Dependencies reachable',
          responses: { 200: answer('Ready'), 503: failure('Names what is down') },
        },
      },
    },
    components: {
      schemas: { Error: joiToSwagger(errorItem).swagger },
      securitySchemes: {
        [ADMIN_AUTH]: {
          type: 'http',
          scheme: 'basic',
          description: 'ADMIN_USER and ADMIN_PASSWORD; unset, the admin operations answer 404',
        },
      },
    },
  };
}
