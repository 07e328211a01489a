import Joi from 'joi';
import { canonicalUuid } from '../lib/platform/id-schema.js';
import { ORDER_STATUSES, REFUND_STATUSES } from '../lib/domain/order-state.js';
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
