import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { startTestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import { orderBody } from '../support/factories.js';

/**
 * POST /api/v1/orders/:id/cancel through the web process and real Postgres: what it answers and
 * what it writes. The rows it leaves are carried out by the worker (see the end-to-end tests).
 */
describe('POST /api/v1/orders/:id/cancel', () => {
  const api = startedForSuite(() => startTestApi({ label: 'cancel' }));

  async function created(status?: 'paid' | 'shipped' | 'cancelled') {
    const body = orderBody();
    const res = await api.request('POST', '/api/v1/orders', body);
    const id = res.body.data.id as string;
    // Later states as the inbox processor would leave them.
    if (status) {
      await api.db.pool.query(
        "update orders set status = $2, payment_id = case when $2 = 'cancelled' then null else 'pay-1' end where id = $1",
        [id, status],
      );
    }
    return { id, userId: body.user_id };
  }

  const cancel = (id: string, body: unknown) =>
    api.request('POST', `/api/v1/orders/${id}/cancel`, body);

  async function rows(id: string) {
    const { rows: outbox } = await api.db.pool.query<{ queue: string; event_type: string }>(
      "select queue, event_type, payload from outbox where order_id = $1 and event_type <> 'payment.requested' and event_type <> 'order.created' order by id",
      [id],
    );
    const { rows: history } = await api.db.pool.query<{ status: string; reason: string }>(
      'select status, reason from order_status_history where order_id = $1 order by id',
      [id],
    );
    return { outbox, history };
  }

  it('when the customer cancels a new order, then 200: cancelled at once with the reason in its history, and the customer is notified', async () => {
    const { id, userId } = await created();

    const res = await cancel(id, { user_id: userId, reason: 'changed my mind' });

    expect(res.status).to.equal(200);
    expect(res.body.data).to.include({ id, status: 'cancelled', refund_status: null });
    expect(res.body.data.cancel_requested_at).to.be.a('string');
    expect(res.body.meta.replayed).to.equal(false);
    const { outbox, history } = await rows(id);
    expect(history.map((h) => [h.status, h.reason])).to.deep.equal([
      ['new', 'order created'],
      ['cancelled', 'cancelled by the customer: changed my mind'],
    ]);
    expect(outbox.map((r) => [r.queue, r.event_type])).to.deep.equal([
      ['notifications', 'order.cancelled'],
    ]);
  });

  it('when the customer cancels a paid order, then 202: still paid, a cancellation request to Shipping is queued, and a repeat answers the same without a second request', async () => {
    const { id, userId } = await created('paid');

    const res = await cancel(id, { user_id: userId });
    const repeat = await cancel(id, { user_id: userId });

    expect(res.status).to.equal(202);
    expect(res.body.data.status).to.equal('paid');
    expect(res.body.data.cancel_requested_at).to.be.a('string');
    expect(repeat.status).to.equal(202);
    expect(repeat.body.meta.replayed).to.equal(true);
    expect(repeat.body.data.cancel_requested_at).to.equal(res.body.data.cancel_requested_at);
    const { outbox } = await rows(id);
    expect(outbox.map((r) => [r.queue, r.event_type])).to.deep.equal([
      ['notifications', 'order.cancel_requested'],
      ['cancellations', 'shipping.cancel_requested'],
    ]);
    const request = (outbox[1] as unknown as { payload: Record<string, string> }).payload;
    expect(request).to.deep.equal({
      event_type: 'order.cancel_requested',
      order_id: id,
      idempotency_key: request.idempotency_key,
    });
  });

  it('when a cancelled order is cancelled again by its customer, then 200 with the current state and nothing new is written', async () => {
    const { id, userId } = await created();
    await cancel(id, { user_id: userId });
    const before = await rows(id);

    const res = await cancel(id, { user_id: userId });

    expect(res.status).to.equal(200);
    expect(res.body.data.status).to.equal('cancelled');
    expect(res.body.meta.replayed).to.equal(true);
    expect(await rows(id)).to.deep.equal(before);
  });

  it('when the order has shipped, then 409 not_cancellable saying so, and nothing is written', async () => {
    const { id, userId } = await created('shipped');

    const res = await cancel(id, { user_id: userId });

    expect(res.status).to.equal(409);
    expect(res.body.errors[0]).to.include({ code: 'not_cancellable', field: 'id' });
    expect(res.body.errors[0].message).to.match(/has been shipped/);
    expect((await rows(id)).outbox).to.have.length(0);
  });

  it('when the order was cancelled for another reason, then 409 naming that reason', async () => {
    const { id, userId } = await created();
    await api.db.pool.query("update orders set status = 'cancelled' where id = $1", [id]);
    await api.db.pool.query(
      "insert into order_status_history (order_id, status, reason) values ($1, 'cancelled', 'payment failed')",
      [id],
    );

    const res = await cancel(id, { user_id: userId });

    expect(res.status).to.equal(409);
    expect(res.body.errors[0].message).to.equal(
      `order ${id} is already cancelled (payment failed)`,
    );
  });

  it("when someone else's user_id is given, then 404 exactly as for an order that does not exist, and nothing changes", async () => {
    const { id } = await created();

    const wrongUser = await cancel(id, { user_id: 'someone-else' });
    const unknown = await cancel(randomUUID(), { user_id: 'someone-else' });

    expect(wrongUser.status).to.equal(404);
    expect(unknown.status).to.equal(404);
    const shape = (r: typeof wrongUser) => ({
      ...r.body.errors[0],
      message: r.body.errors[0].message.replace(/[0-9a-f-]{36}/, '<id>'),
    });
    expect(shape(wrongUser)).to.deep.equal(shape(unknown));
    const { rows: order } = await api.db.pool.query('select status from orders where id = $1', [
      id,
    ]);
    expect(order[0].status).to.equal('new');
  });

  it('when user_id is missing or the reason too long, then 400 naming the field', async () => {
    const { id, userId } = await created();

    const missing = await cancel(id, {});
    const long = await cancel(id, { user_id: userId, reason: 'x'.repeat(501) });
    const badId = await cancel('not-a-uuid', { user_id: userId });

    expect(missing.status).to.equal(400);
    expect(missing.body.errors[0].field).to.equal('user_id');
    expect(long.status).to.equal(400);
    expect(long.body.errors[0].field).to.equal('reason');
    expect(badId.status).to.equal(400);
    expect(badId.body.errors[0].field).to.equal('id');
  });

  it('when two cancellations of one paid order race, then exactly one cancellation request is written', async () => {
    const { id, userId } = await created('paid');

    const answers = await Promise.all(
      Array.from({ length: 5 }, () => cancel(id, { user_id: userId })),
    );

    expect(answers.map((a) => a.status)).to.deep.equal(Array(5).fill(202));
    expect(answers.filter((a) => a.body.meta.replayed === false)).to.have.length(1);
    const { outbox } = await rows(id);
    expect(outbox.filter((r) => r.queue === 'cancellations')).to.have.length(1);
  });

  it('when the OpenAPI document is read, then it describes the cancel endpoint from the same schema', async () => {
    const doc = (await api.request('GET', '/api/openapi.json')).body;
    const op = doc.paths['/api/v1/orders/{id}/cancel'].post;
    const schema = op.requestBody.content['application/json'].schema;
    expect(schema.required).to.deep.equal(['user_id']);
    expect(Object.keys(schema.properties)).to.have.members(['user_id', 'reason']);
    expect(Object.keys(op.responses)).to.include.members(['200', '202', '404', '409']);
    const order = op.responses['200'].content['application/json'].schema.properties.data;
    expect(order.properties.refund_status.enum).to.include.members([
      'requested',
      'refunded',
      'failed',
    ]);
  });
});
