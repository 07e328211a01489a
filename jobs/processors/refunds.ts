import type { PaymentsClient } from '../../lib/peers/payments.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/**
 * Asks Payments to refund a cancelled order's payment; Payments calls our webhook back with the
 * outcome. Retried like every peer job; one that keeps failing ends in Bull Board's failed set
 * with its outbox row failed, and shows in job_failures_total and queue_jobs{queue="refunds"}.
 */
export function refundsProcessor(payments: PaymentsClient): OutboxProcessor<'refunds'> {
  return {
    queue: 'refunds',
    pausesOnRateLimit: true,
    async handle({ payload, log }) {
      const outcome = await payments.requestRefund({
        payment_id: payload.payment_id,
        order_id: payload.order_id,
        amount: payload.amount,
        reason: payload.reason,
        // The row's key, also stored on the order: the refund callback must echo it.
        idempotency_key: payload.idempotency_key,
      });
      if (outcome === 'already-requested') {
        log.info('payments already had this refund (409); counted as delivered');
      }
    },
  };
}
