import type { Db } from '../../db/client.js';
import { checkPayment } from '../../lib/orders/check-payment.js';
import type { PaymentCheckPolicy } from '../../lib/domain/payment-checks.js';
import type { PaymentsClient } from '../../lib/peers/payments.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/**
 * One payment check (lib/orders/check-payment.ts), claimed by the relay once it is due. The use
 * case completes this job's row with what it decided (completesRow); Payments unavailable is one
 * more check without an answer. Only a failure of our own (Postgres) throws and is retried.
 */
export function paymentChecksProcessor(
  payments: Pick<PaymentsClient, 'getPayment'>,
  db: Db,
  policy: PaymentCheckPolicy,
): OutboxProcessor<'payment-checks'> {
  return {
    queue: 'payment-checks',
    pausesOnRateLimit: true,
    completesRow: true,
    async handle({ data, payload, log }) {
      const outcome = await checkPayment(
        { db, payments, policy },
        {
          orderId: payload.order_id,
          attempt: payload.attempt,
          job: { id: data.outboxId, jobId: data.jobId },
        },
      );
      const fields = { check: payload.attempt, outcome: outcome.kind };
      switch (outcome.kind) {
        case 'missing':
          log.warn(fields, 'payment check: order not found');
          break;
        case 'settled':
          log.debug({ ...fields, status: outcome.status }, 'payment check: order settled');
          break;
        case 'answered':
          // The heal this exists for: a callback that did not come.
          log.warn(
            { ...fields, status: outcome.status, inbox: outcome.inbox },
            'payment check: Payments had a final answer; taken in as its callback',
          );
          break;
        case 'rechecking': {
          const line = { ...fields, ...outcome.noAnswer, next_check_in_ms: outcome.delayMs };
          if (outcome.noAnswer.why === 'pending') log.info(line, 'payment check: still pending');
          else log.warn(line, 'payment check: no usable answer; checking again later');
          break;
        }
        case 'expired':
          log.warn(
            { ...fields, ...outcome.noAnswer },
            'payment check: not final by the expiry time; order cancelled (payment expired)',
          );
          break;
        case 'expiry-refused':
          log.info(
            { ...fields, reason: outcome.reason },
            'payment check: expiry refused by the state machine',
          );
          break;
      }
    },
  };
}
