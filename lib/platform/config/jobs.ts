import Joi from 'joi';
import { positiveInt, variable, type Settings } from './define.js';

const concurrency = (env: string, fallback: number, queue: string) =>
  variable({
    env,
    rule: positiveInt.max(1000),
    default: fallback,
    description: `Jobs of the ${queue} queue run at once per worker process.`,
  });

/** The worker process: BullMQ jobs and the outbox relay, reconciler and retention loops. */
export const jobs = {
  title: 'Jobs',
  variables: {
    backoffMs: variable({
      env: 'JOB_BACKOFF_MS',
      rule: positiveInt,
      default: 500,
      description:
        'First retry delay of a transient failure, in ms; doubles per try up to ' +
        'JOB_BACKOFF_MAX_MS, jittered.',
    }),
    backoffMaxMs: variable({
      env: 'JOB_BACKOFF_MAX_MS',
      rule: positiveInt,
      default: 60000,
      description:
        'Cap on one retry delay, in ms: after a peer recovers, work resumes within about this long.',
    }),
    retryWindowMs: variable({
      env: 'JOB_RETRY_WINDOW_MS',
      // 30 days at most: past that a failed-for-good job would outlive its week in Bull Board.
      rule: positiveInt.max(30 * 24 * 3600_000),
      default: 24 * 3600_000,
      description: 'How long (ms) a job retries transient failures before it fails for good.',
    }),
    concurrency: {
      payments: concurrency('PAYMENTS_CONCURRENCY', 16, 'payments'),
      notifications: concurrency('NOTIFICATIONS_CONCURRENCY', 16, 'notifications'),
      shipping: concurrency('SHIPPING_CONCURRENCY', 16, 'shipping'),
      inbox: concurrency('INBOX_CONCURRENCY', 8, 'inbox'),
      refunds: concurrency('REFUNDS_CONCURRENCY', 8, 'refunds'),
      cancellations: concurrency('CANCELLATIONS_CONCURRENCY', 8, 'cancellations'),
      'payment-checks': concurrency('PAYMENT_CHECKS_CONCURRENCY', 8, 'payment-checks'),
      webhooks: concurrency('WEBHOOKS_CONCURRENCY', 16, 'webhooks'),
    },
    relayBatchSize: variable({
      env: 'OUTBOX_RELAY_BATCH_SIZE',
      rule: positiveInt.max(10000),
      default: 500,
      description: 'Outbox rows the relay hands to BullMQ per batch.',
    }),
    relayPollMs: variable({
      env: 'OUTBOX_RELAY_POLL_MS',
      rule: positiveInt,
      default: 1000,
      description: "The relay's fallback poll, in ms (NOTIFY wakes it at once).",
    }),
    reconcileAfterMs: variable({
      env: 'RECONCILE_AFTER_MS',
      rule: positiveInt,
      default: 60000,
      description:
        'The reconciler re-enqueues rows dispatched this long ago (ms) whose job Redis no ' +
        'longer has.',
    }),
    reconcileEveryMs: variable({
      env: 'RECONCILE_EVERY_MS',
      rule: positiveInt,
      default: 30000,
      description: 'How often the reconciler runs, in ms.',
    }),
    paymentConfirmAfterMs: variable({
      env: 'PAYMENT_CONFIRM_AFTER_MS',
      rule: positiveInt,
      default: 10 * 60_000,
      description:
        'An order still `new` this long (ms) after Payments accepted its payment request: ' +
        'Payments is asked what became of the payment (`GET {PAYMENTS_SERVICE_API_URL}/{id}`); ' +
        'then again after twice as long, and so on.',
    }),
    paymentCheckMaxIntervalMs: variable({
      env: 'PAYMENT_CHECK_MAX_INTERVAL_MS',
      rule: positiveInt,
      default: 3600_000,
      description: 'Cap on the wait between two payment checks of one order, in ms.',
    }),
    paymentExpireAfterMs: variable({
      env: 'PAYMENT_EXPIRE_AFTER_MS',
      rule: positiveInt,
      default: 24 * 3600_000,
      description:
        'A payment not final this long (ms) after Payments accepted the request cancels its ' +
        'order ("payment expired"); a success after that is refunded.',
    }),
    shippingAnswerAlertAfterMs: variable({
      env: 'SHIPPING_ANSWER_ALERT_AFTER_MS',
      rule: positiveInt,
      default: 72 * 3600_000,
      description:
        'An order `paid` (or with its cancellation asked of Shipping) longer than this (ms) is ' +
        'counted in `orders_waiting_too_long` and listed at `/admin/orders/waiting`; nothing ' +
        'else is done.',
    }),
    retentionAgeHours: variable({
      env: 'RETENTION_AGE_HOURS',
      rule: Joi.number().min(0),
      default: 168,
      description: 'Completed outbox and processed inbox rows older than this (hours) are deleted.',
    }),
    retentionEveryMs: variable({
      env: 'RETENTION_EVERY_MS',
      rule: positiveInt,
      default: 600000,
      description: 'How often retention runs, in ms.',
    }),
    retentionBatchSize: variable({
      env: 'RETENTION_BATCH_SIZE',
      rule: positiveInt.max(100000),
      default: 1000,
      description: 'Rows retention deletes per statement.',
    }),
  },
};

export function jobsProblems(c: Settings<typeof jobs.variables>): string[] {
  return [
    c.backoffMaxMs < c.backoffMs ? 'JOB_BACKOFF_MAX_MS must be at least JOB_BACKOFF_MS' : undefined,
    c.paymentExpireAfterMs < c.paymentConfirmAfterMs
      ? 'PAYMENT_EXPIRE_AFTER_MS must be at least PAYMENT_CONFIRM_AFTER_MS'
      : undefined,
  ].filter((p): p is string => p !== undefined);
}
