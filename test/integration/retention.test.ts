import { expect } from 'chai';
import { asc, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { inbox, outbox, webhookDeliveries } from '../../db/schema.js';
import { insertWebhookSubscription } from '../../db/webhook-subscriptions.js';
import { createRetention } from '../../jobs/retention.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase } from '../../scripts/testkit/database.js';
import { startedForSuite } from '../support/suite.js';

describe('retention', function () {
  const tdb = startedForSuite(
    () => createTestDatabase('retention'),
    (d) => d.drop(),
  );

  const hoursAgo = (h: number) => sql`now() - make_interval(hours => ${h})`;

  async function outboxRow(
    label: string,
    times: Partial<
      Record<'completedAt' | 'failedAt' | 'dispatchedAt', ReturnType<typeof hoursAgo>>
    >,
  ) {
    await tdb.db.insert(outbox).values({
      queue: 'notifications',
      eventType: label,
      idempotencyKey: randomUUID(),
      payload: {},
      createdAt: hoursAgo(400),
      ...times,
    });
  }

  async function inboxRow(label: string, processedAt?: ReturnType<typeof hoursAgo>) {
    await tdb.db.insert(inbox).values({
      source: 'payments',
      messageKey: randomUUID(),
      orderId: randomUUID(),
      eventType: label,
      payload: {},
      createdAt: hoursAgo(400),
      processedAt,
      result: processedAt ? 'applied' : null,
    });
  }

  async function deliveryRow(subscriptionId: string, label: string, hours: number) {
    await tdb.db.insert(webhookDeliveries).values({
      subscriptionId,
      messageId: `msg_${label}`,
      eventType: label,
      attempt: 1,
      outcome: 'delivered',
      createdAt: hoursAgo(hours),
    });
  }

  it('when it runs, then only completed outbox rows, processed inbox rows and webhook delivery attempts older than the age are deleted, in batches', async () => {
    const subscriptionId = await insertWebhookSubscription(tdb.db, {
      url: 'https://example.com/hooks',
      events: ['*'],
      secret: 'whsec_dGVzdA==',
    });
    for (let i = 0; i < 3; i++) await deliveryRow(subscriptionId, 'old-attempt', 200);
    await deliveryRow(subscriptionId, 'recent-attempt', 1);
    for (let i = 0; i < 5; i++) {
      await outboxRow('old-completed', { dispatchedAt: hoursAgo(300), completedAt: hoursAgo(200) });
    }
    await outboxRow('recent-completed', { dispatchedAt: hoursAgo(2), completedAt: hoursAgo(1) });
    await outboxRow('old-failed', { dispatchedAt: hoursAgo(300), failedAt: hoursAgo(200) });
    await outboxRow('old-open', { dispatchedAt: hoursAgo(300) });
    await outboxRow('old-undispatched', {});
    for (let i = 0; i < 3; i++) await inboxRow('old-processed', hoursAgo(200));
    await inboxRow('recent-processed', hoursAgo(1));
    await inboxRow('old-unprocessed');

    const retention = createRetention({
      db: tdb.db,
      logger: silentLogger(),
      ageHours: 168,
      everyMs: 60_000,
      batchSize: 2,
      pauseMs: 1,
    });
    const result = await retention.runOnce();

    expect(result).to.deep.equal({ outbox: 5, inbox: 3, webhookDeliveries: 3 });
    const outboxLeft = await tdb.db.select().from(outbox).orderBy(asc(outbox.id));
    expect(outboxLeft.map((r) => r.eventType)).to.deep.equal([
      'recent-completed',
      'old-failed',
      'old-open',
      'old-undispatched',
    ]);
    const inboxLeft = await tdb.db.select().from(inbox).orderBy(asc(inbox.id));
    expect(inboxLeft.map((r) => r.eventType)).to.deep.equal([
      'recent-processed',
      'old-unprocessed',
    ]);
    const attemptsLeft = await tdb.db.select().from(webhookDeliveries);
    expect(attemptsLeft.map((r) => r.eventType)).to.deep.equal(['recent-attempt']);
    expect(await retention.runOnce()).to.deep.equal({ outbox: 0, inbox: 0, webhookDeliveries: 0 });
  });
});
