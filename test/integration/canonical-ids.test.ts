import { expect } from 'chai';
import { startTestApi, type TestApi } from '../support/api.js';
import { orderBody } from '../support/factories.js';
import { expectRefusalNaming, rowCounts } from '../support/properties.js';

const TABLES = ['orders', 'order_status_history', 'outbox', 'inbox'] as const;

/**
 * A UUID in the spellings joi's guid() takes besides the canonical one: Postgres's uuid refuses
 * the first three (SQLSTATE 22P02) and takes the rest.
 */
const oddForms = (id: string) => ({
  'with colons': id.replaceAll('-', ':'),
  'in brackets': `[${id}]`,
  'in parentheses': `(${id})`,
  'in braces': `{${id}}`,
  'without hyphens': id.replaceAll('-', ''),
});

describe('ids in other spellings than the canonical 8-4-4-4-12 (API)', () => {
  let api: TestApi;
  let existing: { id: string; user_id: string };

  before(async () => {
    api = await startTestApi({ label: 'ids' });
    existing = (await api.request('POST', '/api/v1/orders', orderBody())).body.data;
  });
  after(async () => {
    await api?.stop();
  });

  for (const [form, spell] of Object.entries(oddForms('0190a0a0-0000-7000-8000-000000000002'))) {
    it(`when an order is read, cancelled, created or called back with an id ${form}, then 400 naming the field and nothing is written`, async () => {
      const before = await rowCounts(api.db.pool, TABLES);
      const odd = oddForms(existing.id)[form as keyof ReturnType<typeof oddForms>];

      // The existing order's own id, spelt oddly: still not an id this service takes.
      const read = await api.request('GET', `/api/v1/orders/${encodeURIComponent(odd)}`);
      expectRefusalNaming(read, ['id']);
      expect(read.body.errors[0].message).to.match(/canonical 8-4-4-4-12/);
      const cancel = await api.request('POST', `/api/v1/orders/${encodeURIComponent(odd)}/cancel`, {
        user_id: existing.user_id,
      });
      expectRefusalNaming(cancel, ['id']);
      expectRefusalNaming(
        await api.request('POST', '/api/v1/orders', orderBody({ idempotency_key: spell })),
        ['idempotency_key'],
      );
      expectRefusalNaming(
        await api.request('POST', '/api/v1/orders', orderBody({ item_id: spell })),
        ['item_id'],
      );
      const callback = await api.request('POST', '/api/v1/orders/payment-callback', {
        id: 'pay-odd',
        order_id: odd,
        amount: '0.10',
        status: 'succeeded',
        idempotency_key: spell,
      });
      expectRefusalNaming(callback, ['order_id', 'idempotency_key']);

      expect(await rowCounts(api.db.pool, TABLES)).to.deep.equal(before);
      const order = await api.request('GET', `/api/v1/orders/${existing.id}`);
      expect(order.body.data.status).to.equal('new');
    });
  }

  it('when the id is the canonical form in upper case, then it is the same order', async () => {
    const res = await api.request('GET', `/api/v1/orders/${existing.id.toUpperCase()}`);
    expect(res.status).to.equal(200);
    expect(res.body.data.id).to.equal(existing.id);
  });
});
