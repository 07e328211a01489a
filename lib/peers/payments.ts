import { callPeer, type PeerClientOptions } from './http.js';

/** Payments' contract: POST {order_id, amount, callback_url, idempotency_key} → 201. */
export interface PaymentRequest {
  order_id: string;
  /** Exact decimal string, "5.00". */
  amount: string;
  idempotency_key: string;
}

export interface PaymentsClientOptions {
  url: string;
  /** Where Payments posts the result (our webhook). */
  callbackUrl: string;
  timeoutMs: number;
  token?: string;
}

/**
 * 'created' on 2xx. 'already-requested' on 409: Payments already holds a payment under this
 * idempotency key (an earlier attempt reached it but its answer was lost), which is the outcome a
 * retry wants, so it counts as success; the callback for that payment comes as usual.
 * Failures throw PeerUnavailableError (retry) or PeerRejectedError (permanent).
 */
export type PaymentRequestOutcome = 'created' | 'already-requested';

export interface PaymentsClient {
  requestPayment(request: PaymentRequest): Promise<PaymentRequestOutcome>;
}

export function createPaymentsClient(options: PaymentsClientOptions): PaymentsClient {
  const peer: PeerClientOptions = {
    peer: 'payments',
    timeoutMs: options.timeoutMs,
    token: options.token,
  };
  return {
    async requestPayment(request) {
      const { status } = await callPeer(peer, {
        method: 'POST',
        url: options.url,
        body: { ...request, callback_url: options.callbackUrl },
        accept: [409],
      });
      return status === 409 ? 'already-requested' : 'created';
    },
  };
}
