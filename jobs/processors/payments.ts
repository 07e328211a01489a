import type { PaymentsClient } from '../../lib/peers/payments.js';
import type { OutboxProcessor } from './run-outbox-job.js';

/** Asks Payments to charge the order; Payments calls our webhook back with the result. */
export function paymentsProcessor(payments: PaymentsClient): OutboxProcessor<'payments'> {
  return {
    queue: 'payments',
    async handle({ payload, log }) {
      const outcome = await payments.requestPayment({
        order_id: payload.order_id,
        amount: payload.amount,
        // The order's payment key: the webhook checks that the callback echoes it.
        idempotency_key: payload.idempotency_key,
      });
      if (outcome === 'already-requested') {
        log.info('payments already had this request (409); counted as delivered');
      }
    },
  };
}
