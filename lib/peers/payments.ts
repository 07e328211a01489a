import Joi from 'joi';
import { PeerContractError } from '../domain/errors.js';
import { callPeer, type PeerClientOptions } from './http.js';

/** Payments' contract: POST {order_id, amount, callback_url, idempotency_key} → 201. */
export interface PaymentRequest {
  order_id: string;
  /** Exact decimal string, "5.00". */
  amount: string;
  idempotency_key: string;
}

/**
 * This service's extension of Payments' contract: POST {payment_id, order_id, amount, reason,
 * idempotency_key, callback_url} to the refunds URL → 201; the outcome comes on the payment
 * webhook (`status: refunded | refund_failed`, `id` = payment_id).
 */
export interface RefundRequest {
  payment_id: string;
  order_id: string;
  amount: string;
  reason: string;
  idempotency_key: string;
}

export interface PaymentsClientOptions {
  url: string;
  /** Where refunds are requested (PAYMENTS_REFUNDS_API_URL, see lib/platform/config/peers.ts). */
  refundsUrl?: string;
  /** Where Payments posts the result (our webhook). */
  callbackUrl: string;
  timeoutMs: number;
  token?: string;
}

/**
 * 'created' on 2xx. 'already-requested' on 409: Payments already holds a payment (or refund)
 * under this idempotency key (an earlier attempt reached it but its answer was lost), which is
 * the outcome a retry wants, so it counts as success; the callback for it comes as usual.
 * Failures throw PeerUnavailableError (retry) or PeerRejectedError (permanent).
 */
export type PaymentRequestOutcome = 'created' | 'already-requested';

export interface PaymentRequestAnswer {
  outcome: PaymentRequestOutcome;
  /**
   * Payments' id for the payment, from the answer's body (`id`): the 201's pending payment, or a
   * 409 that carries the payment the first request made. Undefined when the body has none (a
   * bare 409): the status check then cannot ask, and the order waits for its callback or expires.
   */
  paymentId?: string;
}

/**
 * This service's extension of Payments' contract: `GET {url}/{payment_id}` → 200 with the
 * callback's body, 404 unknown. Only the fields the check uses are required here; the body is
 * then taken in exactly as a callback would be (lib/orders/record-payment-result.ts checks the
 * amount and the key against the order).
 */
export interface PaymentStatus {
  id: string;
  user_id?: string | null;
  order_id: string;
  amount: string;
  status: 'pending' | 'succeeded' | 'failed';
  idempotency_key: string;
  created_at?: string | null;
}

/** found: Payments' answer; unknown: 404, Payments has no such payment. */
export type PaymentStatusAnswer = { kind: 'found'; payment: PaymentStatus } | { kind: 'unknown' };

export interface PaymentsClient {
  requestPayment(request: PaymentRequest): Promise<PaymentRequestAnswer>;
  requestRefund(request: RefundRequest): Promise<PaymentRequestOutcome>;
  /** Throws PeerUnavailableError, PeerRejectedError, or PeerContractError for a malformed body. */
  getPayment(paymentId: string): Promise<PaymentStatusAnswer>;
}

// Strict about what the check relies on, tolerant of fields Payments may add.
const paymentStatusSchema = Joi.object<PaymentStatus, true>({
  id: Joi.string().min(1).required(),
  user_id: Joi.string().allow('', null),
  order_id: Joi.string().min(1).required(),
  amount: Joi.string().min(1).required(),
  status: Joi.string().valid('pending', 'succeeded', 'failed').required(),
  idempotency_key: Joi.string().min(1).required(),
  created_at: Joi.string().allow('', null),
}).unknown(true);

/** The payment's id in a request's answer, when the body carries one. */
function paymentIdOf(body: unknown): string | undefined {
  const id = (body as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/** `{base}/{id}`, the id encoded as one path segment. */
function paymentUrl(base: string, paymentId: string): string {
  return `${base.replace(/\/+$/, '')}/${encodeURIComponent(paymentId)}`;
}

export function createPaymentsClient(options: PaymentsClientOptions): PaymentsClient {
  const peer: PeerClientOptions = {
    peer: 'payments',
    timeoutMs: options.timeoutMs,
    token: options.token,
  };
  const post = async (url: string, body: object): Promise<PaymentRequestAnswer> => {
    const answer = await callPeer(peer, {
      method: 'POST',
      url,
      body: { ...body, callback_url: options.callbackUrl },
      accept: [409],
    });
    return {
      outcome: answer.status === 409 ? 'already-requested' : 'created',
      paymentId: paymentIdOf(answer.body),
    };
  };
  return {
    requestPayment: (request) => post(options.url, request),
    async requestRefund(request) {
      if (!options.refundsUrl) throw new Error('payments client made without a refunds URL');
      return (await post(options.refundsUrl, request)).outcome;
    },
    async getPayment(paymentId) {
      const answer = await callPeer(peer, {
        method: 'GET',
        url: paymentUrl(options.url, paymentId),
        accept: [404],
      });
      if (answer.status === 404) return { kind: 'unknown' };
      const { error, value } = paymentStatusSchema.validate(answer.body);
      if (error) throw new PeerContractError(`payments status malformed: ${error.message}`);
      if (value.id !== paymentId) {
        throw new PeerContractError(`payments status is for payment ${value.id}, not ${paymentId}`);
      }
      return { kind: 'found', payment: value };
    },
  };
}
