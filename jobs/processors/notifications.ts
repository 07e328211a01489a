import type { NotificationsClient } from '../../lib/peers/notifications.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/** Sends one customer notification. */
export function notificationsProcessor(
  notifications: NotificationsClient,
): OutboxProcessor<'notifications'> {
  return {
    queue: 'notifications',
    pausesOnRateLimit: true,
    async handle({ data, payload }) {
      await notifications.send({
        message: payload.message,
        // The row's key, the same on every retry: Notifications sends the message once.
        idempotency_key: data.idempotencyKey,
        order_id: payload.order_id,
        user_id: payload.user_id,
        event: payload.event,
      });
    },
  };
}
