import Joi from 'joi';
import { PeerContractError } from '../domain/errors.js';
import { moneyEquals } from '../domain/money.js';
import { canonicalUuid } from '../platform/id-schema.js';
import { sameId, usableAnswer } from './answer.js';
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
 * Failures throw PeerUnavailableError (retry), PeerRejectedError (permanent), or
 * PeerContractError (retry) for an answer that cannot be used: a body that is not this request's
 * payment (or refund). Payments has accepted the request then, so the retry sends the same
 * idempotency key again and an idempotent Payments answers with the payment the first one made.
 */
export type PaymentRequestOutcome = 'created' | 'already-requested';

export interface PaymentRequestAnswer {
  outcome: PaymentRequestOutcome;
  /**
   * Payments' id for the payment, from the answer's body (`id`): the 201's pending payment, or a
   * 409 that carries the payment the first request made. Undefined when there is none (an empty
   * 201, a bare 409): the status check then cannot ask, and the order waits for its callback or expires.
   */
  paymentId?: string;
}

/**
 * This service's extension of Payments' contract: `GET {url}/{payment_id}` → 200 with the
 * callback's body, 404 unknown. Only the fields the check uses are taken in; the body is
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

/** A payment's id as Payments gives it: the payment callback's rule (api/schemas.ts). */
const paymentId = Joi.string().min(1).max(200);
const money = Joi.string().pattern(/^\d+(\.\d{1,2})?$/);

// Strict about what the check relies on, tolerant of fields Payments may add (dropped).
const paymentStatusSchema = Joi.object<PaymentStatus, true>({
  id: paymentId.required(),
  user_id: Joi.string().max(200).allow('', null),
  order_id: canonicalUuid.required(),
  amount: money.required(),
  status: Joi.string().valid('pending', 'succeeded', 'failed').required(),
  idempotency_key: canonicalUuid.required(),
  created_at: Joi.string().allow('', null),
}).required();

/**
 * A payment request's answer with a body: the payment it made (`id`), and, when it says, the
 * order and key it is for. The original contract promises only the 201, so an empty answer is
 * taken as it comes (no id); a body that is there must be this request's payment.
 */
const requestAnswerSchema = Joi.object<
  { id: string; order_id?: string; amount?: string; idempotency_key?: string },
  true
>({
  id: paymentId.required(),
  order_id: canonicalUuid,
  amount: money,
  idempotency_key: canonicalUuid,
}).required();

// A refund's answer carries nothing this service keeps (the outcome comes on the webhook), but
// one about another payment, order or key means the request did not land where it was sent.
const refundAnswerSchema = Joi.object<
  { payment_id?: string; order_id?: string; amount?: string; idempotency_key?: string },
  true
>({
  payment_id: paymentId,
  order_id: canonicalUuid,
  amount: money,
  idempotency_key: canonicalUuid,
}).required();

type RequestFacts = {
  payment_id?: string;
  order_id?: string;
  amount?: string;
  idempotency_key?: string;
};

/** PeerContractError when an answer names another payment, order, amount or key than `sent`. */
function sameRequest(what: string, answer: RequestFacts, sent: RequestFacts): void {
  for (const field of ['payment_id', 'order_id', 'amount', 'idempotency_key'] as const) {
    const got = answer[field];
    const asked = sent[field];
    if (got === undefined || asked === undefined) continue;
    const same =
      field === 'payment_id'
        ? got === asked
        : field === 'amount'
          ? moneyEquals(got, asked)
          : sameId(got, asked);
    if (!same) {
      throw new PeerContractError('payments', `${what} is for ${field} ${got}, not ${asked}`);
    }
  }
}

const isObject = (body: unknown): body is object =>
  typeof body === 'object' && body !== null && !Array.isArray(body);

/**
 * The payment's id in a request's answer. 201: an empty body has none; any other must be this
 * request's payment. 409: Payments may send the first request's payment (an object with `id`),
 * checked the same way, or just say so (an error object, text, nothing): no id then.
 */
function paymentIdOf(status: number, body: unknown, sent: PaymentRequest): string | undefined {
  if (body === undefined) return undefined;
  if (status === 409 && !(isObject(body) && 'id' in body)) return undefined;
  const answer = usableAnswer('payments', 'payment request answer', requestAnswerSchema, body);
  sameRequest('payment request answer', answer, sent);
  return answer.id;
}

/** Checks a refund request's answer: none, a 409's own words, or this refund. */
function checkRefundAnswer(status: number, body: unknown, sent: RefundRequest): void {
  if (body === undefined || (status === 409 && !isObject(body))) return;
  const answer = usableAnswer('payments', 'refund answer', refundAnswerSchema, body);
  sameRequest('refund answer', answer, sent);
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
  const post = (url: string, body: object) =>
    callPeer(peer, {
      method: 'POST',
      url,
      body: { ...body, callback_url: options.callbackUrl },
      accept: [409],
    });
  const outcomeOf = (status: number): PaymentRequestOutcome =>
    status === 409 ? 'already-requested' : 'created';
  return {
    async requestPayment(request) {
      const answer = await post(options.url, request);
      return {
        outcome: outcomeOf(answer.status),
        paymentId: paymentIdOf(answer.status, answer.body, request),
      };
    },
    async requestRefund(request) {
      if (!options.refundsUrl) throw new Error('payments client made without a refunds URL');
      const answer = await post(options.refundsUrl, request);
      checkRefundAnswer(answer.status, answer.body, request);
      return outcomeOf(answer.status);
    },
    async getPayment(paymentId) {
      const answer = await callPeer(peer, {
        method: 'GET',
        url: paymentUrl(options.url, paymentId),
        accept: [404],
      });
      if (answer.status === 404) return { kind: 'unknown' };
      const value = usableAnswer('payments', 'payment status', paymentStatusSchema, answer.body);
      if (value.id !== paymentId) {
        throw new PeerContractError(
          'payments',
          `payment status is for payment ${value.id}, not ${paymentId}`,
        );
      }
      return { kind: 'found', payment: value };
    },
  };
}
