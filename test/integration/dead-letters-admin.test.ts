import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { insertDeadLetter } from '../../db/dead-letters.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { insertOrder } from '../support/orders.js';

describe('dead letters (admin API)', () => {
  let api: TestApi;
  const auth = { authorization: `Basic ${Buffer.from('ops:s3cret-pw').toString('base64')}` };

  before(async () => {
    api = await startTestApi({
      label: 'deadletters',
      env: { ADMIN_USER: 'ops', ADMIN_PASSWORD: 's3cret-pw' },
    });
  });
  after(async () => {
    await api.stop();
  });

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

  it('when the id is not a number, then 400 naming id', async () => {
    const res = await api.request('POST', '/admin/dead-letters/abc/replay', {}, auth);
    expect(res.status).to.equal(400);
    expect(res.body.errors[0].field).to.equal('id');
  });
});
