import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { startTestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import { KEYBOARD, LIMITED, orderBody, STICKER } from '../support/factories.js';
import { countRows } from '../../scripts/testkit/database.js';

describe('POST /api/v1/orders', () => {
  const api = startedForSuite(() =>
    startTestApi({
      label: 'create',
      env: { CAPASHINO_SERVICE_ACCESS_TOKEN: 'catalog-token-1' },
    }),
  );
  afterEach(() => api.catalog.setFault(undefined));

  const nothingWritten = async (body: { idempotency_key: string }) =>
    expect(await count('orders', 'idempotency_key = $1', [body.idempotency_key])).to.equal(0);

  const count = (table: string, where = 'true', params: unknown[] = []) =>
    countRows(api.db.pool, `select count(*) as n from ${table} where ${where}`, params);

  describe('when the request is valid', () => {
    it('then it answers 201 with the new order, and stores it, its history and two outbox rows', async () => {
      const body = orderBody({ quantity: 3 });
      const res = await api.request('POST', '/api/v1/orders', body);

      expect(res.status).to.equal(201);
      expect(res.body.errors).to.deep.equal([]);
      const order = res.body.data;
      expect(order).to.include({
        item_id: body.item_id,
        user_id: body.user_id,
        quantity: 3,
        status: 'new',
      });
      expect(order.amount).to.equal('0.30');
      expect(order.history).to.have.length(1);
      const outbox = await api.db.pool.query(
        'select queue, event_type, payload from outbox where order_id = $1 order by id',
        [order.id],
      );
      expect(outbox.rows.map((r) => r.queue)).to.deep.equal(['payments', 'notifications']);
      const stored = await api.db.pool.query(
        'select status, amount, payment_idempotency_key from orders where id = $1',
        [order.id],
      );
      expect(stored.rows[0]).to.include({ status: 'new', amount: '0.30' });
      expect(outbox.rows[0].payload).to.deep.equal({
        order_id: order.id,
        amount: '0.30',
        idempotency_key: stored.rows[0].payment_idempotency_key,
      });
      expect(await count('order_status_history', 'order_id = $1', [order.id])).to.equal(1);
    });

    it('then it sends the configured token to Catalog as X-API-Key', async () => {
      await api.request('POST', '/api/v1/orders', orderBody());
      expect(api.catalog.lastApiKey).to.equal('catalog-token-1');
    });

    it('then amounts are exact: 0.10 × 3 = 0.30 and 19.99 × 10000 = 199900.00', async () => {
      const a = await api.request(
        'POST',
        '/api/v1/orders',
        orderBody({ item_id: STICKER.id, quantity: 3 }),
      );
      const b = await api.request(
        'POST',
        '/api/v1/orders',
        orderBody({ item_id: KEYBOARD.id, quantity: 10000 }),
      );
      expect(a.body.data.amount).to.equal('0.30');
      expect(b.body.data.amount).to.equal('199900.00');
      const row = await api.db.pool.query('select amount from orders where id = $1', [
        b.body.data.id,
      ]);
      expect(row.rows[0].amount).to.equal('199900.00');
    });

    it('then it carries the X-Request-Id it was given', async () => {
      const res = await api.request('POST', '/api/v1/orders', orderBody(), {
        'x-request-id': 'trace-abc-123',
      });
      expect(res.headers.get('x-request-id')).to.equal('trace-abc-123');
      expect(res.body.meta.request_id).to.equal('trace-abc-123');
    });
  });

  describe('when the same idempotency key comes again', () => {
    it('with the same body, then it answers 200 with the stored order and writes nothing', async () => {
      const body = orderBody();
      const first = await api.request('POST', '/api/v1/orders', body);
      const before = [
        await count('orders'),
        await count('outbox'),
        await count('order_status_history'),
      ];
      const requestsBefore = api.catalog.requests;

      const again = await api.request('POST', '/api/v1/orders', body);

      expect(again.status).to.equal(200);
      expect(again.body.data.id).to.equal(first.body.data.id);
      expect(again.body.meta.replayed).to.equal(true);
      expect([
        await count('orders'),
        await count('outbox'),
        await count('order_status_history'),
      ]).to.deep.equal(before);
      expect(api.catalog.requests, 'a replay does not ask Catalog').to.equal(requestsBefore);
    });

    it('with the same body while Catalog is down or the item sold out, then the stored order all the same', async () => {
      const body = orderBody();
      const first = await api.request('POST', '/api/v1/orders', body);

      api.catalog.setFault({ status: 503 });
      const whileDown = await api.request('POST', '/api/v1/orders', body);
      api.catalog.setFault(undefined);
      const item = api.catalog.items.get(body.item_id)!;
      const stock = item.available_qty;
      item.available_qty = 0;
      const soldOut = await api.request('POST', '/api/v1/orders', body).finally(() => {
        item.available_qty = stock;
      });

      expect(whileDown.status).to.equal(200);
      expect(whileDown.body.data.id).to.equal(first.body.data.id);
      expect(soldOut.status).to.equal(200);
      expect(await count('orders', 'idempotency_key = $1', [body.idempotency_key])).to.equal(1);
    });

    it('with a different body, then it answers 409 naming idempotency_key', async () => {
      const body = orderBody();
      await api.request('POST', '/api/v1/orders', body);
      const res = await api.request('POST', '/api/v1/orders', { ...body, quantity: 2 });
      expect(res.status).to.equal(409);
      expect(res.body.errors[0]).to.include({ field: 'idempotency_key', code: 'conflict' });
      expect(await count('orders', 'idempotency_key = $1', [body.idempotency_key])).to.equal(1);
    });

    it('in 20 concurrent identical requests, then exactly one order and two outbox rows exist', async () => {
      const body = orderBody();
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => api.request('POST', '/api/v1/orders', body)),
      );

      const ids = new Set(answers.map((a) => a.body.data?.id));
      expect(ids.size).to.equal(1);
      expect(answers.map((a) => a.status).sort((a, b) => a - b)).to.deep.equal([
        ...Array<number>(19).fill(200),
        201,
      ]);
      const orderId = [...ids][0];
      expect(await count('orders', 'idempotency_key = $1', [body.idempotency_key])).to.equal(1);
      expect(await count('outbox', 'order_id = $1', [orderId])).to.equal(2);
    });
  });

  describe('when Catalog says no or cannot answer', () => {
    it('for an unknown item, then 404 naming item_id', async () => {
      const body = orderBody({ item_id: randomUUID() });
      const res = await api.request('POST', '/api/v1/orders', body);
      expect(res.status).to.equal(404);
      expect(res.body.errors[0]).to.include({ field: 'item_id', code: 'item_not_found' });
      await nothingWritten(body);
    });

    it('for more than the stock, then 409 naming quantity', async () => {
      const body = orderBody({ item_id: LIMITED.id, quantity: 3 });
      const res = await api.request('POST', '/api/v1/orders', body);
      expect(res.status).to.equal(409);
      expect(res.body.errors[0]).to.include({ field: 'quantity', code: 'out_of_stock' });
      await nothingWritten(body);
    });

    it('when Catalog answers 500, then 503 with Retry-After, after one retry', async () => {
      api.catalog.setFault({ status: 500 });
      const before = api.catalog.requests;
      const body = orderBody();
      const res = await api.request('POST', '/api/v1/orders', body);
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.match(/^\d+$/);
      expect(res.body.errors[0].code).to.equal('peer_unavailable');
      expect(JSON.stringify(res.body)).not.to.contain('catalog fault (test)');
      expect(api.catalog.requests - before).to.equal(2);
      await nothingWritten(body);
    });

    it('when Catalog is slower than the timeout, then 503 without waiting for it, and no retry', async () => {
      api.catalog.setFault({ delayMs: 2000 });
      const before = api.catalog.requests;
      const body = orderBody();
      const started = Date.now();
      const res = await api.request('POST', '/api/v1/orders', body);
      expect(res.status).to.equal(503);
      expect(Date.now() - started).to.be.lessThan(1500);
      expect(api.catalog.requests - before).to.equal(1);
      await nothingWritten(body);
    });
  });

  describe('when the outbox insert fails', () => {
    it('then no order, history or outbox row is left behind', async () => {
      await api.db.pool.query(`
        create function fail_outbox() returns trigger language plpgsql as $$
        begin raise exception 'outbox insert forced to fail'; end $$;
        create trigger fail_outbox before insert on outbox for each row execute function fail_outbox();`);
      try {
        const body = orderBody();
        const res = await api.request('POST', '/api/v1/orders', body);
        expect(res.status).to.equal(500);
        expect(JSON.stringify(res.body)).not.to.match(/outbox insert forced|insert into/i);
        await nothingWritten(body);
        expect(
          await count(
            'order_status_history h join orders o on o.id = h.order_id',
            'o.idempotency_key = $1',
            [body.idempotency_key],
          ),
        ).to.equal(0);
      } finally {
        await api.db.pool.query('drop trigger fail_outbox on outbox; drop function fail_outbox();');
      }
    });
  });

  describe('when the request is invalid, then 400 names the field and nothing is written', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['item_id missing', { item_id: undefined }, 'item_id'],
      ['item_id not a UUID', { item_id: 'abc' }, 'item_id'],
      ['quantity missing', { quantity: undefined }, 'quantity'],
      ['quantity zero', { quantity: 0 }, 'quantity'],
      ['quantity above 10000', { quantity: 10001 }, 'quantity'],
      ['quantity a fraction', { quantity: 1.5 }, 'quantity'],
      ['quantity a string', { quantity: '2' }, 'quantity'],
      ['user_id missing', { user_id: undefined }, 'user_id'],
      ['user_id empty', { user_id: '' }, 'user_id'],
      ['user_id too long', { user_id: 'u'.repeat(129) }, 'user_id'],
      ['user_id with spaces', { user_id: 'a b' }, 'user_id'],
      ['idempotency_key missing', { idempotency_key: undefined }, 'idempotency_key'],
      ['idempotency_key not a UUID', { idempotency_key: 'k-1' }, 'idempotency_key'],
      ['an unknown field', { discount: '1.00' }, 'discount'],
    ];
    for (const [name, change, field] of cases) {
      it(`${name} → ${field}`, async () => {
        const body = { ...orderBody(), ...change };
        const res = await api.request('POST', '/api/v1/orders', body);
        expect(res.status).to.equal(400);
        const problem = res.body.errors.find((e: { field: string }) => e.field === field);
        expect(problem, JSON.stringify(res.body.errors)).to.exist;
        expect(problem.message).to.contain(field);
        if (typeof body.idempotency_key === 'string') {
          expect(
            await count('orders', 'idempotency_key::text = $1', [body.idempotency_key]),
          ).to.equal(0);
        }
      });
    }

    it('a JSON array body → 400', async () => {
      const res = await api.request('POST', '/api/v1/orders', [orderBody()]);
      expect(res.status).to.equal(400);
    });
  });

  describe('when the HTTP itself is wrong', () => {
    it('malformed JSON → 400 malformed_json', async () => {
      const res = await api.request('POST', '/api/v1/orders', '{"item_id": ', {
        'content-type': 'application/json',
      });
      expect(res.status).to.equal(400);
      expect(res.body.errors[0]).to.include({ code: 'malformed_json', field: 'body' });
    });

    it('a non-JSON content type → 415', async () => {
      const res = await api.request('POST', '/api/v1/orders', 'item_id=1', {
        'content-type': 'text/plain',
      });
      expect(res.status).to.equal(415);
      expect(res.body.errors[0].field).to.equal('content-type');
    });

    it('a body over the limit → 413', async () => {
      const res = await api.request('POST', '/api/v1/orders', {
        ...orderBody(),
        pad: 'x'.repeat(20_000),
      });
      expect(res.status).to.equal(413);
      expect(res.body.errors[0].code).to.equal('payload_too_large');
    });

    it('an unknown route → 404 in the envelope', async () => {
      const res = await api.request('GET', '/api/v1/nothing-here');
      expect(res.status).to.equal(404);
      expect(res.body).to.have.keys('data', 'meta', 'errors');
      expect(res.body.errors[0].code).to.equal('not_found');
    });
  });
});
