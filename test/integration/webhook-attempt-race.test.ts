import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { recordDeliveryAttempt } from '../../db/webhook-deliveries.js';
import { insertWebhookSubscription } from '../../db/webhook-subscriptions.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { newWebhookSecret } from '../support/webhooks.js';

describe('order webhooks: a subscription deleted while its delivery is recorded', function () {
  this.timeout(30_000);
  let api: TestApi;

  before(async () => {
    api = await startTestApi({ label: 'webhook-attempt-race' });
  });

  after(async () => {
    await api?.stop();
  });

  it('when an admin deletes the subscription as an attempt is recorded, then the attempt goes with it and the row completes, with no foreign-key error to fail the job for good', async () => {
    const subscriptionId = await insertWebhookSubscription(api.db.db, {
      url: 'http://127.0.0.1:9/hooks',
      events: ['*'],
      secret: newWebhookSecret(),
    });
    const orderId = randomUUID();
    const [outboxId] = await insertOutboxRows(api.db.db, [
      {
        queue: 'webhooks',
        eventType: 'order.paid',
        orderId,
        idempotencyKey: randomUUID(),
        payload: { subscription_id: subscriptionId, order_id: orderId },
      },
    ]);
    const {
      rows: [row],
    } = await api.db.pool.query<{ job_id: string }>('select job_id from outbox where id = $1', [
      outboxId,
    ]);

    // The admin's DELETE holds the row while the attempt is recorded, and commits after.
    const admin = await api.db.pool.connect();
    try {
      await admin.query('begin');
      await admin.query('delete from webhook_subscriptions where id = $1', [subscriptionId]);
      const recording = recordDeliveryAttempt(
        api.db.db,
        {
          subscriptionId,
          outboxId: outboxId!,
          messageId: `msg_${randomUUID()}`,
          orderId,
          eventType: 'order.paid',
          attempt: 1,
          outcome: 'delivered',
          statusCode: 204,
          latencyMs: 3,
        },
        { complete: { jobId: row!.job_id } },
      );
      await sleep(200);
      await admin.query('commit');
      await recording;
    } finally {
      admin.release();
    }

    const { rows } = await api.db.pool.query<{ completed: boolean; attempts: number }>(
      `select (select completed_at is not null from outbox where id = $1) as completed,
              (select count(*)::int from webhook_deliveries where outbox_id = $1) as attempts`,
      [outboxId],
    );
    expect(rows[0]).to.deep.equal({ completed: true, attempts: 0 });
  });
});
