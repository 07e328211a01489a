import type { Db } from '../../db/client.js';
import { recordPaymentAccepted } from '../../db/payment-checks.js';
import { paymentCheck } from '../../db/outbox/events.js';
import { firstCheckDelay, type PaymentCheckPolicy } from '../../lib/domain/payment-checks.js';
import type { PaymentsClient } from '../../lib/peers/payments.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/**
 * Asks Payments to charge the order; Payments calls our webhook back with the result. Once
 * Payments has accepted, one statement completes this job's row, stamps the acceptance and the
 * payment's id on the order, and writes the order's first payment check, due
 * PAYMENT_CONFIRM_AFTER_MS later (completesRow): a callback that never comes is then asked about.
 */
export function paymentsProcessor(
  payments: PaymentsClient,
  db: Db,
  policy: PaymentCheckPolicy,
): OutboxProcessor<'payments'> {
  return {
    queue: 'payments',
    pausesOnRateLimit: true,
    completesRow: true,
    async handle({ data, payload, log }) {
      const answer = await payments.requestPayment({
        order_id: payload.order_id,
        amount: payload.amount,
        // The order's payment key: the webhook checks that the callback echoes it.
        idempotency_key: payload.idempotency_key,
      });
      if (answer.outcome === 'already-requested') {
        log.info('payments already had this request (409); counted as delivered');
      }
      if (answer.paymentId === undefined) {
        log.warn(
          'payments answered without the payment id: its status cannot be asked; the order ' +
            'waits for its callback, or expires',
        );
      }
      await recordPaymentAccepted(db, {
        orderId: payload.order_id,
        paymentId: answer.paymentId,
        job: { id: data.outboxId, jobId: data.jobId },
        firstCheck: paymentCheck(payload.order_id, 1, firstCheckDelay(policy)),
      });
    },
  };
}
