import { expect } from 'chai';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { paymentCheck } from '../../db/outbox/events.js';
import { startTestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import { insertOrder } from '../support/orders.js';

/**
 * Orders waiting too long for Shipping (SHIPPING_ANSWER_ALERT_AFTER_MS, one minute here): counted
 * by the orders_waiting_too_long gauge, listed at /admin/orders/waiting, linked from the journey
 * page. Nothing acts on them by itself.
 */
describe('orders waiting too long for Shipping (gauge and admin list)', () => {
  const auth = { authorization: `Basic ${Buffer.from('ops:s3cret-pw').toString('base64')}` };
  const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);

  const api = startedForSuite(() =>
    startTestApi({
      label: 'waiting',
      env: {
        ADMIN_USER: 'ops',
        ADMIN_PASSWORD: 's3cret-pw',
        SHIPPING_ANSWER_ALERT_AFTER_MS: '60000',
      },
    }),
  );

  async function gauge(): Promise<Record<string, number>> {
    const res = await api.request('GET', '/metrics', undefined, auth);
    expect(res.status).to.equal(200);
    const values: Record<string, number> = {};
    for (const [, status, value] of String(res.body).matchAll(
      /^orders_waiting_too_long\{status="([a-z_]+)"\} (\d+)$/gm,
    )) {
      values[status!] = Number(value);
    }
    return values;
  }

  it('when orders have been paid, or waited on a cancellation, longer than the threshold, then the gauge counts them by status and the admin list shows them oldest first', async () => {
    const before = await gauge();
    const paidLong = await insertOrder(api.db.db, { status: 'paid', updatedAt: ago(5) });
    const cancelLong = await insertOrder(api.db.db, {
      status: 'paid',
      cancelRequestedAt: ago(10),
      updatedAt: ago(10),
    });
    const paidRecently = await insertOrder(api.db.db, { status: 'paid', updatedAt: ago(0.1) });
    const shippedLong = await insertOrder(api.db.db, { status: 'shipped', updatedAt: ago(30) });
    const newLong = await insertOrder(api.db.db, { status: 'new', updatedAt: ago(30) });

    const after = await gauge();
    const listed = await api.request('GET', '/admin/orders/waiting', undefined, auth);

    expect(before).to.deep.equal({ paid: 0, cancel_requested: 0 });
    expect(after).to.deep.equal({ paid: 1, cancel_requested: 1 });
    expect(listed.status).to.equal(200);
    expect(listed.body.data.older_than_ms).to.equal(60000);
    const orders = listed.body.data.orders as { id: string; waiting_for: string }[];
    expect(orders.map((o) => [o.id, o.waiting_for])).to.deep.equal([
      [cancelLong.id, 'cancel_requested'],
      [paidLong.id, 'paid'],
    ]);
    expect(orders[1]).to.include({
      journey: `/admin/orders/${paidLong.id}`,
      user_id: paidLong.userId,
    });
    const ids = orders.map((o) => o.id);
    expect(ids).not.to.include.members([paidRecently.id, shippedLong.id, newLong.id]);
  });

  it('when a payment check is written to run later, then outbox_oldest_open_seconds does not count it as waiting until it is due', async () => {
    const order = await insertOrder(api.db.db);
    const oldest = async () => {
      const res = await api.request('GET', '/metrics', undefined, auth);
      const m = /^outbox_oldest_open_seconds\{queue="payment-checks"\} ([\d.e+-]+)$/m.exec(
        String(res.body),
      );
      return Number(m?.[1]);
    };

    await insertOutboxRows(api.db.db, [paymentCheck(order.id, 1, 600_000)]);
    const notDue = await oldest();
    await api.db.pool.query(
      `update outbox set run_after = now() - interval '30 seconds' where order_id = $1`,
      [order.id],
    );
    const overdue = await oldest();

    expect(notDue).to.equal(0);
    expect(overdue).to.be.within(29, 120);
  });

  it('when the list is asked without the admin credentials, then 401', async () => {
    const res = await api.request('GET', '/admin/orders/waiting');

    expect(res.status).to.equal(401);
  });

  it("when an order's journey page is shown, then it links to the list of orders waiting too long", async () => {
    const order = await insertOrder(api.db.db, { status: 'paid' });

    const page = await api.request('GET', `/admin/orders/${order.id}`, undefined, auth);

    expect(page.status).to.equal(200);
    const href = /<a href="([^"]+)" id="waiting-orders">/.exec(String(page.body))?.[1];
    expect(new URL(href!, `${api.url}/admin/orders/${order.id}`).pathname).to.equal(
      '/admin/orders/waiting',
    );
  });
});
