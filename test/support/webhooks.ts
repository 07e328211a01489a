import { randomBytes, randomUUID } from 'node:crypto';
import { PAYMENT_CALLBACK_PATH } from '../../api/routes/payment-callback.js';
import type { PaymentCallback } from '../../lib/orders/record-payment-result.js';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';
import type { TestApi, TestResponse } from './api.js';
import { orderBody, type CreateOrderBody } from './factories.js';

/** A fresh Standard Webhooks secret (`whsec_<base64 of 32 random bytes>`). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** What Payments was asked for, read back from Postgres: a matching callback echoes it. */
export interface OrderPaymentFacts {
  id: string;
  userId: string;
  amount: string;
  paymentIdempotencyKey: string;
}

/** Creates an order through the API and reads the payment idempotency key it gave Payments. */
export async function createOrderForPayment(
  api: TestApi,
  overrides: Partial<CreateOrderBody> = {},
): Promise<OrderPaymentFacts> {
  const created = await api.request('POST', '/api/v1/orders', orderBody(overrides));
  if (created.status !== 201) {
    throw new Error(
      `creating the order answered ${created.status}: ${JSON.stringify(created.body)}`,
    );
  }
  const { rows } = await api.db.pool.query<{
    id: string;
    user_id: string;
    amount: string;
    payment_idempotency_key: string;
  }>('select id, user_id, amount, payment_idempotency_key from orders where id = $1', [
    created.body.data.id,
  ]);
  const row = rows[0]!;
  return {
    id: row.id,
    userId: row.user_id,
    amount: row.amount,
    paymentIdempotencyKey: row.payment_idempotency_key,
  };
}

/** The callback Payments would send for `order`; override what the test is about. */
export function paymentCallbackBody(
  order: OrderPaymentFacts,
  overrides: Partial<PaymentCallback> = {},
): PaymentCallback {
  return {
    id: `pay_${randomUUID()}`,
    user_id: order.userId,
    order_id: order.id,
    amount: order.amount,
    status: 'succeeded',
    idempotency_key: order.paymentIdempotencyKey,
    created_at: new Date().toISOString(),
    ...overrides,
  };
}

export interface SendOptions {
  /** Sign with this secret; unsigned when undefined. */
  secret?: string;
  /** Unix seconds for webhook-timestamp; now by default. */
  timestamp?: number;
  /** Headers to add or replace after signing (to break a signature on purpose). */
  headers?: Record<string, string>;
  /** Send these bytes instead of the signed ones (a body tampered with in transit). */
  sentBody?: string;
}

/** POSTs a callback exactly as serialised here, signed over those bytes when a secret is given. */
export async function sendPaymentCallback(
  api: TestApi,
  body: unknown,
  { secret, timestamp, headers = {}, sentBody }: SendOptions = {},
): Promise<TestResponse> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const signature = secret ? signedWebhookHeaders(secret, raw, { timestamp }) : {};
  return api.request('POST', PAYMENT_CALLBACK_PATH, sentBody ?? raw, {
    ...signature,
    ...headers,
  });
}
