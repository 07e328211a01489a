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

export interface PaymentsClient {
  requestPayment(request: PaymentRequest): Promise<PaymentRequestOutcome>;
  requestRefund(request: RefundRequest): Promise<PaymentRequestOutcome>;
}

export function createPaymentsClient(options: PaymentsClientOptions): PaymentsClient {
  const peer: PeerClientOptions = {
    peer: 'payments',
    timeoutMs: options.timeoutMs,
    token: options.token,
  };
  const post = async (url: string, body: object): Promise<PaymentRequestOutcome> => {
    const { status } = await callPeer(peer, {
      method: 'POST',
      url,
      body: { ...body, callback_url: options.callbackUrl },
      accept: [409],
    });
    return status === 409 ? 'already-requested' : 'created';
  };
  return {
    requestPayment: (request) => post(options.url, request),
    async requestRefund(request) {
      if (!options.refundsUrl) throw new Error('payments client made without a refunds URL');
      return post(options.refundsUrl, request);
    },
  };
}
