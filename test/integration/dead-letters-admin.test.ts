import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { insertDeadLetter } from '../../db/dead-letters.js';
import { startTestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import { insertOrder } from '../support/orders.js';

describe('dead letters (admin API)', () => {
  const auth = { authorization: `Basic ${Buffer.from('ops:s3cret-pw').toString('base64')}` };

  const api = startedForSuite(() =>
    startTestApi({
      label: 'deadletters',
      env: { ADMIN_USER: 'ops', ADMIN_PASSWORD: 's3cret-pw' },
    }),
  );

  async function deadLetterFor(orderId: string, offset: number) {
    const value = JSON.stringify({
      event_type: 'order.shipped',
      order_id: orderId,
      shipment_id: 'shp-dl',
    });
    await insertDeadLetter(api.db.db, {
      topic: 'shipping.responses',
      partition: 0,
      offset: String(offset),
      key: orderId,
      value,
      reason: `unknown order ${orderId}`,
    });
    const listed = await api.request('GET', '/admin/dead-letters', undefined, auth);
    return listed.body.data.find((d: { offset: string }) => d.offset === String(offset)) as {
      id: number;
      value: string;
    };
  }

  it('when asked without credentials, then 401', async () => {
    expect((await api.request('GET', '/admin/dead-letters')).status).to.equal(401);
  });

  it('when the order now exists, then replay records the event once and the letter leaves the list', async () => {
    const orderId = randomUUID();
    const letter = await deadLetterFor(orderId, 10);
    expect(letter.value).to.contain(orderId);

    const early = await api.request('POST', `/admin/dead-letters/${letter.id}/replay`, {}, auth);
    expect(early.status, 'still unknown order').to.equal(409);

    await insertOrder(api.db.db, { id: orderId, status: 'paid' });
    const res = await api.request('POST', `/admin/dead-letters/${letter.id}/replay`, {}, auth);
    expect(res.status).to.equal(200);
    expect(res.body.data.outcome).to.equal('recorded');
    const inbox = await api.db.pool.query(
      "select event_type from inbox where order_id = $1 and source = 'shipping'",
      [orderId],
    );
    expect(inbox.rows).to.deep.equal([{ event_type: 'order.shipped' }]);

    const again = await api.request('POST', `/admin/dead-letters/${letter.id}/replay`, {}, auth);
    expect(again.status).to.equal(409);
    const listed = await api.request('GET', '/admin/dead-letters', undefined, auth);
    expect(listed.body.data.map((d: { id: number }) => d.id)).not.to.include(letter.id);
  });

  it('when ops send a corrected value, then that value is taken in', async () => {
    const order = await insertOrder(api.db.db, { status: 'paid' });
    const letter = await deadLetterFor(randomUUID(), 11);
    const fixed = JSON.stringify({
      event_type: 'shipping.failed',
      order_id: order.id,
      reason: 'no courier',
    });
    const res = await api.request(
      'POST',
      `/admin/dead-letters/${letter.id}/replay`,
      { value: fixed },
      auth,
    );
    expect(res.status).to.equal(200);
    const inbox = await api.db.pool.query('select event_type from inbox where order_id = $1', [
      order.id,
    ]);
    expect(inbox.rows).to.deep.equal([{ event_type: 'shipping.failed' }]);
  });

  it('when ops send a value that passes validation but Postgres refuses (22xxx), then 409 naming value, the reason given, and nothing written', async () => {
    const order = await insertOrder(api.db.db, { status: 'paid' });
    const letter = await deadLetterFor(order.id, 30);
    // jsonb refuses NUL; the parser looks for it only 32 levels deep.
    let deep: unknown = 'nul\u0000here';
    for (let i = 0; i < 40; i++) deep = { deeper: deep };
    const value = JSON.stringify({
      event_type: 'order.shipped',
      order_id: order.id,
      shipment_id: 'shp-deep',
      extra: deep,
    });
    const res = await api.request(
      'POST',
      `/admin/dead-letters/${letter.id}/replay`,
      { value },
      auth,
    );
    expect(res.status).to.equal(409);
    expect(res.body.errors[0].field).to.equal('value');
    expect(res.body.errors[0].message).to.match(/refused by Postgres \(SQLSTATE 22P05\)/);
    const inbox = await api.db.pool.query('select 1 from inbox where order_id = $1', [order.id]);
    expect(inbox.rowCount).to.equal(0);
    const listed = await api.request('GET', '/admin/dead-letters', undefined, auth);
    expect(listed.body.data.map((d: { id: number }) => d.id)).to.include(letter.id);
  });

  it('when the id is not a number, then 400 naming id', async () => {
    const res = await api.request('POST', '/admin/dead-letters/abc/replay', {}, auth);
    expect(res.status).to.equal(400);
    expect(res.body.errors[0].field).to.equal('id');
  });
});
