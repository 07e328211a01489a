import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { inboxProcessor } from '../../jobs/processors/inbox.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { applyInboxEvent } from '../../lib/orders/apply-inbox-event.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase } from '../../scripts/testkit/database.js';
import { startedForSuite } from '../support/suite.js';
import {
  bullJobIdOfRow,
  inboxRowById,
  insertInboxEvent,
  insertOrder,
  orderAfterEvents,
  outboxRowById,
} from '../support/orders.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { storesEnv } from '../support/api.js';

describe('applying inbox events', function () {
  const tdb = startedForSuite(
    () => createTestDatabase('inbox'),
    (d) => d.drop(),
  );

  const outboxRow = (id: number) => outboxRowById(tdb.db, id);

  /** Cancelled, with its payment's refund requested, in one history row naming `reason`. */
  async function expectCancelledRefundRequested(
    orderId: string,
    paymentId: string,
    reason: string,
  ) {
    const after = await orderAfterEvents(tdb.db, orderId);
    expect(after.order).to.include({ status: 'cancelled', paymentId, refundStatus: 'requested' });
    expect(after.history.map((h) => [h.status, h.refundStatus, h.reason])).to.deep.equal([
      ['cancelled', 'requested', reason],
    ]);
    return after;
  }

  /** A message from Shipping, recorded in the inbox as the consumer records it, then applied. */
  async function applyShippingMessage(
    message: { event_type: string; order_id: string } & Record<string, unknown>,
  ) {
    const { inboxRow: event } = await insertInboxEvent(tdb.db, {
      orderId: message.order_id,
      eventType: message.event_type,
      source: 'shipping',
      payload: message,
    });
    return applyInboxEvent(tdb.db, { inboxId: event.id });
  }

  it('when payment.succeeded is applied to a new order, then it is paid, with a history row, a notification and a shipping request, and the inbox and its outbox row are done', async () => {
    const order = await insertOrder(tdb.db, { quantity: 3 });
    const {
      inboxRow: event,
      outboxId,
      outboxRef,
    } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
    });

    const result = await applyInboxEvent(tdb.db, { inboxId: event.id, outbox: outboxRef });

    expect(result).to.include({ outcome: 'applied', from: 'new', to: 'paid' });
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.order.status).to.equal('paid');
    expect(after.order.updatedAt.getTime()).to.be.greaterThan(order.updatedAt.getTime());
    expect(after.history.map((h) => [h.status, h.reason])).to.deep.equal([
      ['paid', 'payment succeeded'],
    ]);
    expect(after.followUps.map((r) => [r.queue, r.eventType])).to.deep.equal([
      ['notifications', 'order.paid'],
      ['shipping', 'shipping.requested'],
    ]);
    expect(after.followUps[0]?.payload).to.include({ order_id: order.id, user_id: order.userId });
    expect(after.followUps[1]?.payload).to.deep.equal({
      event_type: 'order.paid',
      order_id: order.id,
      item_id: order.itemId,
      quantity: 3,
      idempotency_key: after.followUps[1]?.idempotencyKey,
    });
    expect(await inboxRowById(tdb.db, event.id)).to.include({ result: 'applied' });
    expect((await inboxRowById(tdb.db, event.id)).processedAt).to.be.instanceOf(Date);
    expect((await outboxRow(outboxId)).completedAt).to.be.instanceOf(Date);
  });

  it('when the same inbox row is applied twice, even at once, then it is applied once', async () => {
    const order = await insertOrder(tdb.db);
    const { inboxRow: event, outboxRef } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
    });

    const results = await Promise.all([
      applyInboxEvent(tdb.db, { inboxId: event.id, outbox: outboxRef }),
      applyInboxEvent(tdb.db, { inboxId: event.id, outbox: outboxRef }),
    ]);
    const third = await applyInboxEvent(tdb.db, { inboxId: event.id, outbox: outboxRef });
    // Without a job: the inbox row alone says it is done.
    const fourth = await applyInboxEvent(tdb.db, { inboxId: event.id });

    const outcomes = results.map((r) => r.outcome);
    expect(outcomes.filter((o) => o === 'applied')).to.have.length(1);
    const other = outcomes.find((o) => o !== 'applied');
    // The other waited for the first's locks and found the event processed, or started after the
    // first committed and found the job's row completed.
    expect(other).to.be.oneOf(['already-processed', 'job-row-not-open']);
    // The job's row, read with the locks, is completed: nothing more is looked at.
    expect(third).to.deep.equal({
      outcome: 'job-row-not-open',
      jobRow: { jobId: outboxRef.jobId, completed: true, failed: false },
    });
    expect(fourth).to.deep.equal({
      outcome: 'already-processed',
      orderId: order.id,
      result: 'applied',
    });
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.history).to.have.length(1);
    expect(after.followUps).to.have.length(2);
  });

  it('when payment.succeeded arrives for an order already cancelled, then it stays cancelled, keeps the payment id, and one refund is requested even when the success repeats', async () => {
    const order = await insertOrder(tdb.db, { status: 'cancelled' });
    const first = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
      payload: { id: 'pay-late-1', order_id: order.id, status: 'succeeded' },
    });
    const repeat = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
      payload: { id: 'pay-late-1', order_id: order.id, status: 'succeeded' },
    });

    const result = await applyInboxEvent(tdb.db, {
      inboxId: first.inboxRow.id,
      outbox: first.outboxRef,
    });
    const again = await applyInboxEvent(tdb.db, { inboxId: repeat.inboxRow.id });

    expect(result).to.include({
      outcome: 'applied',
      from: 'cancelled',
      to: 'cancelled (refund requested)',
    });
    expect(again).to.include({ outcome: 'refused', kind: 'duplicate' });
    const after = await expectCancelledRefundRequested(
      order.id,
      'pay-late-1',
      'payment succeeded after the order was cancelled',
    );
    expect(after.followUps.map((r) => [r.queue, r.eventType])).to.deep.equal([
      ['notifications', 'order.refund_requested'],
      ['refunds', 'refund.requested'],
    ]);
    const refund = after.followUps[1]!;
    expect(refund.idempotencyKey).to.equal(after.order.refundIdempotencyKey);
    expect(refund.payload).to.deep.equal({
      payment_id: 'pay-late-1',
      order_id: order.id,
      amount: order.amount,
      reason: 'order cancelled: payment succeeded after the order was cancelled',
      idempotency_key: refund.idempotencyKey,
    });
    expect((await outboxRow(first.outboxId)).completedAt).to.be.instanceOf(Date);
  });

  it('when order.shipped arrives for a cancelled order, then it is refused and recorded, and nothing changes', async () => {
    const order = await insertOrder(tdb.db, { status: 'cancelled' });
    const {
      inboxRow: event,
      outboxId,
      outboxRef,
    } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'order.shipped',
      source: 'shipping',
    });

    const result = await applyInboxEvent(tdb.db, { inboxId: event.id, outbox: outboxRef });

    expect(result).to.deep.equal({
      outcome: 'refused',
      orderId: order.id,
      kind: 'conflict',
      reason: 'order.shipped refused: order is cancelled',
    });
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.order.status).to.equal('cancelled');
    expect(after.order.updatedAt.getTime()).to.equal(order.updatedAt.getTime());
    expect(after.history).to.have.length(0);
    expect(after.followUps).to.have.length(0);
    expect(await inboxRowById(tdb.db, event.id)).to.include({
      result: 'order.shipped refused: order is cancelled',
    });
    expect((await outboxRow(outboxId)).completedAt).to.be.instanceOf(Date);
  });

  it('when order.shipped arrives for a paid order, then it is shipped with the shipment id and a notification, and no shipping request', async () => {
    const order = await insertOrder(tdb.db, { status: 'paid' });

    await applyShippingMessage({
      event_type: 'order.shipped',
      order_id: order.id,
      shipment_id: 'shp-42',
    });

    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.order).to.include({ status: 'shipped', shipmentId: 'shp-42' });
    expect(after.history.map((h) => h.status)).to.deep.equal(['shipped']);
    expect(after.followUps.map((r) => r.eventType)).to.deep.equal(['order.shipped']);
  });

  it('when shipping.failed arrives for a paid order, then it is cancelled with the reason and its payment is refunded, in the same transaction', async () => {
    const order = await insertOrder(tdb.db, { status: 'paid', paymentId: 'pay-7' });

    // A shipping message's fields are never taken for a payment id.
    await applyShippingMessage({
      event_type: 'shipping.failed',
      order_id: order.id,
      id: 'not-a-payment',
    });

    const after = await expectCancelledRefundRequested(order.id, 'pay-7', 'shipping failed');
    expect(after.followUps.map((r) => r.queue)).to.deep.equal(['notifications', 'refunds']);
    expect(after.followUps[1]!.payload).to.include({ payment_id: 'pay-7', amount: order.amount });
  });

  for (const [eventType, refundStatus, notified] of [
    ['refund.succeeded', 'refunded', 'order.refunded'],
    ['refund.failed', 'failed', 'order.refund_failed'],
  ] as const) {
    it(`when ${eventType} arrives for a refund requested, then the order records ${refundStatus} in its history and the customer is told`, async () => {
      const order = await insertOrder(tdb.db, {
        status: 'cancelled',
        paymentId: 'pay-9',
        refundStatus: 'requested',
        refundIdempotencyKey: randomUUID(),
      });
      const { inboxRow: event } = await insertInboxEvent(tdb.db, {
        orderId: order.id,
        eventType,
        payload: { id: 'pay-9', order_id: order.id },
      });

      const result = await applyInboxEvent(tdb.db, { inboxId: event.id });

      expect(result).to.include({ outcome: 'applied', to: `cancelled (refund ${refundStatus})` });
      const after = await orderAfterEvents(tdb.db, order.id);
      expect(after.order).to.include({ status: 'cancelled', refundStatus });
      expect(after.history.map((h) => [h.status, h.refundStatus])).to.deep.equal([
        ['cancelled', refundStatus],
      ]);
      expect(after.followUps.map((r) => [r.queue, r.eventType])).to.deep.equal([
        ['notifications', notified],
      ]);
    });
  }

  it('when the event type is unknown, the order is missing or the inbox row is gone, then nothing changes and the reason is recorded', async () => {
    const order = await insertOrder(tdb.db);
    const { inboxRow: odd } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.pending',
    });
    const orphanOrderId = randomUUID();
    const { inboxRow: orphan } = await insertInboxEvent(tdb.db, {
      orderId: orphanOrderId,
      eventType: 'payment.succeeded',
    });

    const unknown = await applyInboxEvent(tdb.db, { inboxId: odd.id });
    const noOrder = await applyInboxEvent(tdb.db, { inboxId: orphan.id });
    const gone = await applyInboxEvent(tdb.db, { inboxId: 987654 });

    expect(unknown).to.include({
      outcome: 'refused',
      reason: 'unknown event type payment.pending',
    });
    expect((await orderAfterEvents(tdb.db, order.id)).order.status).to.equal('new');
    expect(noOrder).to.include({ outcome: 'refused', reason: `order ${orphanOrderId} not found` });
    expect(await inboxRowById(tdb.db, orphan.id)).to.include({
      result: `order ${orphanOrderId} not found`,
    });
    expect(gone).to.deep.equal({ outcome: 'missing' });
  });

  describe('through the inbox queue', function () {
    let redis: TestRedisPrefix;
    let worker: RunningWorker;

    before(async () => {
      redis = createTestRedisPrefix();
      const config = loadConfig({
        ...storesEnv(tdb, redis),
        JOB_BACKOFF_MS: '5',
      });
      worker = await startWorker(config, {
        database: tdb,
        logger: silentLogger(),
        processors: [inboxProcessor(tdb.db)],
      });
    });

    after(async () => {
      await worker?.stop();
      await redis?.flush();
    });

    it('when an inbox row is committed, then the worker applies it, and a duplicate job changes nothing', async () => {
      const order = await insertOrder(tdb.db);
      const { inboxRow: event, outboxId } = await insertInboxEvent(tdb.db, {
        orderId: order.id,
        eventType: 'payment.succeeded',
      });

      await waitFor(async () => (await outboxRow(outboxId)).completedAt !== null, {
        what: 'inbox job done',
      });
      const job = await worker.queues.inbox.getJob(await bullJobIdOfRow(tdb.db, outboxId));
      const duplicate = await worker.queues.inbox.add(job!.name, job!.data, {
        jobId: `duplicate-${outboxId}`,
      });
      await waitFor(async () => (await duplicate.getState()) === 'completed', {
        what: 'duplicate done',
      });

      const after = await orderAfterEvents(tdb.db, order.id);
      expect(after.order.status).to.equal('paid');
      expect(after.history).to.have.length(1);
      expect(after.followUps).to.have.length(2);
      expect(await inboxRowById(tdb.db, event.id)).to.include({ result: 'applied' });
      expect((await outboxRow(outboxId)).attempts).to.equal(1);
    });
  });
});
