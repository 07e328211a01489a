import { DelayedError } from 'bullmq';
import type { Db } from '../../db/client.js';
import { recordDeliveryAttempt, type DeliveryAttempt } from '../../db/webhook-deliveries.js';
import {
  disableWebhookSubscription,
  webhookDeliveryContext,
} from '../../db/webhook-subscriptions.js';
import { SubscriberUnavailableError, type SubscribersClient } from '../../lib/peers/subscribers.js';
import { retryDelay, type RetryPolicy } from '../outbox/retry-policy.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/** Why a subscription was disabled, as the metric's `reason` label says it. */
export type DisabledReason = 'gone' | 'retry_window';

export interface WebhooksProcessorDeps {
  db: Db;
  subscribers: SubscribersClient;
  /** The jobs' retry policy: a delivery waiting for an earlier one waits about its next retry. */
  retry: RetryPolicy;
  /** A subscription was disabled (webhook_subscriptions_disabled_total). */
  onDisabled?(reason: DisabledReason): void;
}

/**
 * Delivers one order event to one subscription (docs/webhooks.md), recording every attempt in
 * webhook_deliveries and completing the row in the same statement when the attempt ends the
 * delivery (completesRow):
 * - a 2xx is delivered; a 410 disables the subscription (gone);
 * - any other answer, a timeout, a refused or forbidden connection records `failed` and throws
 *   SubscriberUnavailableError, retried by the runner's one verdict with the usual window;
 * - an inactive or deleted subscription is skipped;
 * - an earlier event of the same (subscription, order) still open goes first: this job moves
 *   back to the delayed set (DelayedError) without using an attempt, and looks again about
 *   when that one's next retry is due.
 * Giving up after the window disables the subscription (onGivenUp).
 */
export function webhooksProcessor(deps: WebhooksProcessorDeps): OutboxProcessor<'webhooks'> {
  const { db, subscribers } = deps;
  return {
    queue: 'webhooks',
    completesRow: true,
    async handle({ job, token, data, payload, log }) {
      const orderId = payload.order_id;
      const context = await webhookDeliveryContext(db, {
        subscriptionId: payload.subscription_id,
        orderId,
        outboxId: data.outboxId,
      });
      const attempt: Omit<DeliveryAttempt, 'outcome'> = {
        subscriptionId: payload.subscription_id,
        outboxId: data.outboxId,
        messageId: payload.message_id,
        orderId,
        eventType: payload.event,
        attempt: job.attemptsMade + 1,
      };
      const complete = { jobId: data.jobId };
      const { subscription, waitingFor } = context;
      if (!subscription?.active) {
        const why = subscription ? 'subscription inactive' : 'subscription deleted';
        await recordDeliveryAttempt(
          db,
          { ...attempt, outcome: 'skipped', error: why },
          { complete },
        );
        log.info({ subscription_id: payload.subscription_id }, `webhook skipped: ${why}`);
        return;
      }
      if (waitingFor) {
        const waitMs = retryDelay(deps.retry, Math.max(1, waitingFor.attempts));
        log.debug(
          { waiting_for: waitingFor.outboxId, wait_ms: waitMs },
          'webhook waits for an earlier event of its order',
        );
        await job.moveToDelayed(Date.now() + waitMs, token);
        throw new DelayedError();
      }
      const result = await subscribers.deliver({
        url: subscription.url,
        secret: subscription.secret,
        previousSecret: subscription.previousSecret,
        messageId: payload.message_id,
        body: payload.body,
      });
      if (result.kind === 'unreachable') {
        await recordDeliveryAttempt(db, {
          ...attempt,
          outcome: 'failed',
          error: result.error.message,
          latencyMs: result.latencyMs,
        });
        throw result.error;
      }
      const answered = {
        ...attempt,
        statusCode: result.status,
        latencyMs: result.latencyMs,
        responseExcerpt: result.excerpt,
      };
      if (result.status >= 200 && result.status < 300) {
        await recordDeliveryAttempt(db, { ...answered, outcome: 'delivered' }, { complete });
        return;
      }
      if (result.status === 410) {
        const reason = `the subscriber answered 410 Gone (${payload.event}, ${payload.message_id})`;
        const { disabled } = await recordDeliveryAttempt(
          db,
          { ...answered, outcome: 'gone' },
          { complete, disable: reason },
        );
        if (disabled) deps.onDisabled?.('gone');
        log.warn({ subscription_id: payload.subscription_id }, 'subscriber gone (410): disabled');
        return;
      }
      const error = new SubscriberUnavailableError(`answered ${result.status}`);
      await recordDeliveryAttempt(db, { ...answered, outcome: 'failed', error: error.message });
      throw error;
    },
    async onGivenUp({ data, log }, { why, error }) {
      // A broken payload says nothing about the subscriber; only a whole window of failures does.
      if (why !== 'retry-window') return;
      const subscriptionId = data.payload.subscription_id;
      if (typeof subscriptionId !== 'string') return;
      const reason = `deliveries failed for the whole retry window; last error: ${error}`.slice(
        0,
        1000,
      );
      if (await disableWebhookSubscription(db, subscriptionId, reason)) {
        deps.onDisabled?.('retry_window');
        log.error({ subscription_id: subscriptionId }, 'webhook subscription disabled: ' + reason);
      }
    },
  };
}
