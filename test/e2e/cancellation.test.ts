import { expect } from 'chai';
import { COFFEE_MUG, orderBody, STICKER } from '../support/factories.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startTestSystem, ADMIN_AUTH } from '../support/system.js';
import { startedForSuite } from '../support/suite.js';

/**
 * Cancellation and refunds through the whole service as the development mode runs it: web,
 * worker and consumer, real Postgres and Redis, Kafka (Apache Kafka with KAFKA_TEST_BROKER=real),
 * and the development peers. Their rules used here: Shipping fails quantity 13 and packs
 * quantity 12 for SHIPPING_HOLD_MS (30 s), so a paid order of 12 can still be cancelled; Payments
 * refunds what it is asked to. Money taken for a cancelled order must be refunded exactly once.
 */
describe('end to end: cancellation and refunds', function () {
  this.timeout(60000);

  const sys = startedForSuite(() => startTestSystem());

  type Order = { status: string; refund_status: string | null; [k: string]: unknown };
  const get = async (id: string): Promise<Order> =>
    (await sys.request('GET', `/api/v1/orders/${id}`)).body.data;
  const history = (order: Order) =>
    (order.history as { status: string; refund_status: string | null }[]).map((h) =>
      h.refund_status ? `${h.status}/${h.refund_status}` : h.status,
    );

  async function untilRefund(id: string, status: string): Promise<Order> {
    let last: Order | undefined;
    await waitFor(async () => (last = await get(id)).refund_status === status, {
      timeoutMs: 20000,
      intervalMs: 25,
      what: `order ${id} refund to be ${status}`,
    }).catch((err: Error) => {
      throw new Error(`${err.message} (last seen: ${JSON.stringify(last)})`);
    });
    return last!;
  }

  async function outboxRows(id: string, queue: string) {
    const { rows } = await sys.db.pool.query<{
      completed: boolean;
      failed: boolean;
      job_id: string;
    }>(
      `select completed_at is not null as completed, failed_at is not null as failed, job_id
         from outbox where order_id = $1 and queue = $2`,
      [id, queue],
    );
    return rows;
  }

  /** An order of 12 mugs, paid, with Shipping still packing it. */
  async function paidAndPacking(): Promise<{ id: string; userId: string }> {
    const body = orderBody({ item_id: COFFEE_MUG.id, quantity: 12 });
    const created = await sys.request('POST', '/api/v1/orders', body);
    expect(created.status).to.equal(201);
    const id = created.body.data.id as string;
    await sys.until(id, ['paid']);
    const { shipping } = sys.peers();
    await shipping.until(
      () => shipping.recorded({ order_id: id }).shipments[0]?.state === 'packing',
      20000,
      `Shipping to be packing order ${id}`,
    );
    return { id, userId: body.user_id };
  }

  /** Payments saw one payment and exactly one refund of it, asked once (no repeat either). */
  function expectRefundedOnce(id: string) {
    const recorded = sys.peers().payments.recorded({ order_id: id });
    expect(recorded.payments).to.have.length(1);
    expect(recorded.refunds).to.have.length(1);
    expect(recorded.refunds[0]).to.include({
      payment_id: recorded.payments[0]!.id,
      amount: recorded.payments[0]!.amount,
      duplicates: 0,
    });
  }

  it('when shipping fails after payment, then the order is cancelled and its payment refunded: requested once, then refunded', async () => {
    const created = await sys.request(
      'POST',
      '/api/v1/orders',
      orderBody({ item_id: STICKER.id, quantity: 13 }),
    );
    const id = created.body.data.id as string;

    const order = await untilRefund(id, 'refunded');

    expect(order.status).to.equal('cancelled');
    expect(history(order)).to.deep.equal([
      'new',
      'paid',
      'cancelled/requested',
      'cancelled/refunded',
    ]);
    expectRefundedOnce(id);
    const refunds = await outboxRows(id, 'refunds');
    expect(refunds).to.have.length(1);
    await waitFor(async () => (await outboxRows(id, 'refunds'))[0]!.completed, {
      what: 'the refund row completed',
    });
    await waitFor(() => sys.notificationEvents(id).length === 4, { what: 'four notifications' });
    expect(sys.notificationEvents(id)).to.deep.equal([
      'order.cancelled',
      'order.created',
      'order.paid',
      'order.refunded',
    ]);
  });

  it('when the customer cancels a new order and the payment succeeds afterwards, then it stays cancelled, is never shipped, and the payment is refunded once', async () => {
    const { payments, shipping } = sys.peers();
    const body = orderBody({ item_id: STICKER.id, quantity: 2 });
    payments.pauseCallbacks();
    let id: string;
    try {
      const created = await sys.request('POST', '/api/v1/orders', body);
      id = created.body.data.id as string;
      // Payments took the payment; its success callback is held back until after the cancel.
      await payments.until(() => payments.recorded({ order_id: id }).payments.length === 1);

      const cancelled = await sys.request('POST', `/api/v1/orders/${id}/cancel`, {
        user_id: body.user_id,
        reason: 'ordered by mistake',
      });

      expect(cancelled.status).to.equal(200);
      expect(cancelled.body.data).to.include({ status: 'cancelled', refund_status: null });
    } finally {
      payments.resumeCallbacks();
    }

    const order = await untilRefund(id, 'refunded');

    expect(order.status).to.equal('cancelled');
    expect(history(order)).to.deep.equal([
      'new',
      'cancelled',
      'cancelled/requested',
      'cancelled/refunded',
    ]);
    expectRefundedOnce(id);
    expect(shipping.recorded({ order_id: id }).shipments).to.have.length(0);
    await waitFor(() => sys.notificationEvents(id).length === 4, { what: 'four notifications' });
    expect(sys.notificationEvents(id)).to.deep.equal([
      'order.cancelled',
      'order.created',
      'order.refund_requested',
      'order.refunded',
    ]);
  });

  it('when the customer cancels a paid order and Shipping cancels it, then it is cancelled and refunded once', async () => {
    const { id, userId } = await paidAndPacking();

    const res = await sys.request('POST', `/api/v1/orders/${id}/cancel`, { user_id: userId });

    expect(res.status).to.equal(202);
    expect(res.body.data.status).to.equal('paid');
    const order = await untilRefund(id, 'refunded');
    expect(order.status).to.equal('cancelled');
    expect(history(order)).to.deep.equal([
      'new',
      'paid',
      'paid',
      'cancelled/requested',
      'cancelled/refunded',
    ]);
    expectRefundedOnce(id);
    const { shipping } = sys.peers();
    expect(shipping.recorded({ order_id: id }).cancellations).to.have.length(1);
    expect(shipping.recorded({ order_id: id }).cancellations[0]!.outcome).to.equal('cancelled');
    await waitFor(() => sys.notificationEvents(id).length === 5, { what: 'five notifications' });
    expect(sys.notificationEvents(id)).to.deep.equal([
      'order.cancel_requested',
      'order.cancelled',
      'order.created',
      'order.paid',
      'order.refunded',
    ]);
    // A repeat answers the final state and asks nothing new of anyone.
    const repeat = await sys.request('POST', `/api/v1/orders/${id}/cancel`, { user_id: userId });
    expect(repeat.status).to.equal(200);
    expect(repeat.body.data).to.include({ status: 'cancelled', refund_status: 'refunded' });
    expect(await outboxRows(id, 'cancellations')).to.have.length(1);
  });

  it('when the customer cancels a paid order but Shipping ships it first, then it is shipped, never refunded, and the customer is told the cancellation came too late', async () => {
    const { shipping, payments } = sys.peers();
    shipping.setCancelRule(() => 'ship');
    try {
      const { id, userId } = await paidAndPacking();

      const res = await sys.request('POST', `/api/v1/orders/${id}/cancel`, { user_id: userId });

      expect(res.status).to.equal(202);
      const order = await sys.until(id, ['shipped', 'cancelled']);
      expect(order.status).to.equal('shipped');
      expect(order.refund_status).to.equal(null);
      expect(order.shipment_id).to.be.a('string');
      await waitFor(() => sys.notificationEvents(id).includes('order.cancel_too_late'), {
        what: 'the too-late notification',
      });
      expect(sys.notificationEvents(id)).to.deep.equal([
        'order.cancel_requested',
        'order.cancel_too_late',
        'order.created',
        'order.paid',
      ]);
      expect(payments.recorded({ order_id: id }).refunds).to.have.length(0);
      expect(await outboxRows(id, 'refunds')).to.have.length(0);
    } finally {
      shipping.setCancelRule(undefined);
    }
  });

  it('when the customer cancels a shipped order, then 409 with the reason, and nothing is asked of anyone', async () => {
    const body = orderBody({ item_id: STICKER.id, quantity: 1 });
    const created = await sys.request('POST', '/api/v1/orders', body);
    const id = created.body.data.id as string;
    await sys.until(id, ['shipped']);

    const res = await sys.request('POST', `/api/v1/orders/${id}/cancel`, {
      user_id: body.user_id,
    });

    expect(res.status).to.equal(409);
    expect(res.body.errors[0]).to.include({ code: 'not_cancellable', field: 'id' });
    expect(res.body.errors[0].message).to.match(/has been shipped and can no longer be cancelled/);
    expect((await get(id)).status).to.equal('shipped');
    expect(await outboxRows(id, 'cancellations')).to.have.length(0);
    expect(await outboxRows(id, 'refunds')).to.have.length(0);
  });

  it('when Payments refuses a refund, then the refund job fails at once into Bull Board and the metrics, and an ops retry after the fix refunds it', async () => {
    const { payments } = sys.peers();
    const { id, userId } = await paidAndPacking();
    payments.setFault({ status: 422 });
    let jobId: string;
    try {
      await sys.request('POST', `/api/v1/orders/${id}/cancel`, { user_id: userId });
      await waitFor(async () => (await outboxRows(id, 'refunds'))[0]?.failed === true, {
        timeoutMs: 20000,
        what: 'the refund row to fail',
      });
      jobId = `outbox-${(await outboxRows(id, 'refunds'))[0]!.job_id}`;

      const listing = await sys.request(
        'GET',
        '/admin/queues/api/queues?activeQueue=refunds&status=failed&page=1&jobsPerPage=50',
        undefined,
        ADMIN_AUTH,
      );
      const refunds = listing.body.queues.find((q: { name: string }) => q.name === 'refunds');
      const job = refunds.jobs.find((j: { id: string }) => j.id === jobId);
      expect(job.failedReason).to.match(/422/);
      const metrics = await (
        await fetch(`${sys.dev.apiUrl}/metrics`, { headers: ADMIN_AUTH })
      ).text();
      expect(metrics).to.match(/^job_failures_total\{queue="refunds",kind="failed"\} [1-9]/m);
      expect(metrics).to.match(/^queue_jobs\{queue="refunds",state="failed"\} [1-9]/m);
      expect(metrics).to.match(/^order_refunds\{refund_status="requested"\} [1-9]/m);
      expect((await get(id)).refund_status).to.equal('requested');
    } finally {
      payments.setFault(undefined);
    }

    const retry = await sys.request(
      'PUT',
      `/admin/queues/api/queues/refunds/${jobId}/retry`,
      undefined,
      ADMIN_AUTH,
    );

    expect(retry.status).to.equal(204);
    const order = await untilRefund(id, 'refunded');
    expect(order.status).to.equal('cancelled');
    expectRefundedOnce(id);
    expect((await outboxRows(id, 'refunds'))[0]).to.include({ completed: true, failed: false });
  });
});
