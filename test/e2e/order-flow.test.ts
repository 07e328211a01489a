import { expect } from 'chai';
import { KEYBOARD, orderBody, STICKER } from '../support/factories.js';
import { createMixedOrders, expectOutboxSettled } from '../support/mixed-orders.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startTestSystem, ADMIN_AUTH } from '../support/system.js';
import { startedForSuite } from '../support/suite.js';

/**
 * The whole service as the development mode runs it: real Postgres and Redis, the in-repo Kafka
 * broker over TCP, and the development peers (Payments calls back signed; Shipping answers over
 * Kafka). Outcome rules of the peers: an amount ending in .13 fails payment; quantity 13 fails
 * shipping.
 */
describe('end to end: an order from POST to its final state', function () {
  this.timeout(60000);

  const sys = startedForSuite(() => startTestSystem());

  it('when an order is created, then it is paid, shipped with a shipment id, and every step is notified once', async () => {
    const created = await sys.request('POST', '/api/v1/orders', orderBody({ quantity: 2 }));
    expect(created.status).to.equal(201);
    const id = created.body.data.id as string;

    const order = await sys.until(id, ['shipped', 'cancelled']);

    expect(order.status).to.equal('shipped');
    expect(order.shipment_id).to.be.a('string').and.not.be.empty;
    expect((order.history as { status: string }[]).map((h) => h.status)).to.deep.equal([
      'new',
      'paid',
      'shipped',
    ]);
    const { payments, shipping } = sys.peers();
    expect(payments.recorded({ order_id: id }).payments).to.have.length(1);
    expect(payments.recorded({ order_id: id }).payments[0]).to.include({ amount: '0.20' });
    const shipment = shipping.recorded({ order_id: id }).shipments;
    expect(shipment).to.have.length(1);
    expect(shipment[0]!.answer?.shipment_id).to.equal(order.shipment_id);
    await waitFor(() => sys.notificationEvents(id).length === 3, { what: 'three notifications' });
    expect(sys.notificationEvents(id)).to.deep.equal([
      'order.created',
      'order.paid',
      'order.shipped',
    ]);
  });

  it('when the payment fails, then the order is cancelled and never sent to Shipping', async () => {
    // 19.99 × 87 = 1739.13: the development Payments fails amounts ending in .13.
    const created = await sys.request(
      'POST',
      '/api/v1/orders',
      orderBody({ item_id: KEYBOARD.id, quantity: 87 }),
    );
    const id = created.body.data.id as string;
    expect(created.body.data.amount).to.equal('1739.13');

    const order = await sys.until(id, ['cancelled', 'shipped']);

    expect(order.status).to.equal('cancelled');
    expect(sys.peers().shipping.recorded({ order_id: id }).shipments).to.have.length(0);
    await waitFor(() => sys.notificationEvents(id).length === 2, { what: 'two notifications' });
    expect(sys.notificationEvents(id)).to.deep.equal(['order.cancelled', 'order.created']);
  });

  it('when shipping fails, then the paid order is cancelled (and refunded: see cancellation.test.ts)', async () => {
    const created = await sys.request(
      'POST',
      '/api/v1/orders',
      orderBody({ item_id: STICKER.id, quantity: 13 }),
    );
    const id = created.body.data.id as string;

    const order = await sys.until(id, ['cancelled', 'shipped']);

    expect(order.status).to.equal('cancelled');
    // The refund's outcome may already have added its own row by the time the order is read.
    expect((order.history as { status: string }[]).map((h) => h.status).slice(0, 3)).to.deep.equal([
      'new',
      'paid',
      'cancelled',
    ]);
    await waitFor(() => sys.notificationEvents(id).length === 4, { what: 'four notifications' });
  });

  it('when Payments refuses with 400, then the job fails at once, and a retry from Bull Board after the fix completes it', async () => {
    const { payments } = sys.peers();
    payments.setFault({ status: 400 });
    let id: string;
    try {
      const created = await sys.request('POST', '/api/v1/orders', orderBody());
      id = created.body.data.id as string;
      await waitFor(
        async () =>
          (
            await sys.db.pool.query(
              "select 1 from outbox where order_id = $1 and queue = 'payments' and failed_at is not null",
              [id],
            )
          ).rowCount === 1,
        { what: 'payments row marked failed' },
      );
    } finally {
      payments.setFault(undefined);
    }
    const row = await sys.db.pool.query(
      "select id, job_id, last_error, attempts from outbox where order_id = $1 and queue = 'payments'",
      [id],
    );
    expect(row.rows[0].last_error).to.match(/400/);
    expect(row.rows[0].attempts).to.equal(1);

    const retry = await sys.request(
      'PUT',
      `/admin/queues/api/queues/payments/outbox-${row.rows[0].job_id}/retry`,
      undefined,
      ADMIN_AUTH,
    );
    expect(retry.status).to.equal(204);

    const order = await sys.until(id, ['shipped', 'cancelled']);
    expect(order.status).to.equal('shipped');
    const after = await sys.db.pool.query(
      "select completed_at, failed_at from outbox where order_id = $1 and queue = 'payments'",
      [id],
    );
    expect(after.rows[0].completed_at).to.be.instanceOf(Date);
    expect(after.rows[0].failed_at).to.equal(null);
  });

  it('when 50 orders are created at once, then each reaches its expected state and every peer saw each effect once', async () => {
    const { bodies, ids } = await createMixedOrders(sys, 50);
    // Created and cancelled when payment fails; created, paid and shipped; created, paid,
    // cancelled and refunded when shipping fails.
    const notified = (quantity: number) => (quantity === 87 ? 2 : quantity === 13 ? 4 : 3);
    await waitFor(
      () =>
        ids.every((id, i) => sys.notificationEvents(id).length === notified(bodies[i]!.quantity)),
      {
        what: 'all notifications',
        timeoutMs: 10000,
      },
    );
    // Each notification arrived under its own key: deduplication never had to hide a repeat.
    const { notifications } = sys.peers();
    const perOrder = ids.map((id) => notifications.recorded({ order_id: id }).notifications);
    expect(perOrder.flat().every((n) => n.duplicates === 0)).to.equal(true);
    await expectOutboxSettled(sys, ids);
  });

  it('when /metrics is scraped after the run, then it parses as Prometheus text and its counters moved', async () => {
    const res = await fetch(`${sys.dev.apiUrl}/metrics`, { headers: ADMIN_AUTH });
    expect(res.status).to.equal(200);
    const text = await res.text();
    const samples = text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(l));
    expect(
      samples.every((m) => m !== null),
      'every sample line parses',
    ).to.equal(true);
    const value = (name: string, labels = '') =>
      samples
        .filter((m) => m![1] === name && (m![2] ?? '').includes(labels))
        .reduce((n, m) => n + Number(m![3]), 0);
    expect(
      value('http_request_duration_seconds_count', 'route="/api/v1/orders/"'),
    ).to.be.greaterThan(50);
    expect(value('job_duration_seconds_count', 'queue="payments"')).to.be.greaterThan(50);
    expect(value('outbox_relayed_total')).to.be.greaterThan(200);
    expect(value('shipping_messages_total', 'outcome="recorded"')).to.be.greaterThan(40);
    expect(value('outbox_lag_seconds')).to.equal(0);
    expect(value('process_cpu_user_seconds_total')).to.be.greaterThan(0);
    expect(
      (await fetch(`${sys.dev.apiUrl}/metrics`)).status,
      'metrics need the admin credentials',
    ).to.equal(401);
  });
});
