import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { startWeb } from '../../api/server.js';
import { createDatabase } from '../../db/client.js';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { startTestApi, request, testConfig } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import { orderBody } from '../support/factories.js';
import { waitFor } from '../../scripts/testkit/wait.js';

describe('reading orders', () => {
  const api = startedForSuite(() => startTestApi({ label: 'read' }));

  describe('GET /api/v1/orders/:id', () => {
    it('when the order exists, then it answers the order with its history', async () => {
      const created = await api.request('POST', '/api/v1/orders', orderBody({ quantity: 2 }));
      const res = await api.request('GET', `/api/v1/orders/${created.body.data.id}`);
      expect(res.status).to.equal(200);
      expect(res.body.data).to.include({
        id: created.body.data.id,
        status: 'new',
        amount: '0.20',
        shipment_id: null,
      });
      expect(res.body.data.history).to.have.length(1);
      expect(res.body.data.history[0]).to.include({ status: 'new', reason: 'order created' });
    });

    it('when a transition commits while the order is read, then its status and its history are from the same moment', async () => {
      const created = await api.request('POST', '/api/v1/orders', orderBody());
      const id = created.body.data.id as string;
      // A transition that holds the history table while it commits: a read of the order that is
      // not one snapshot sees the order before it and the history after it.
      const tx = new pg.Client({ connectionString: api.db.url });
      await tx.connect();
      try {
        await tx.query('begin');
        await tx.query('lock table order_status_history in access exclusive mode');
        await tx.query(`update orders set status = 'paid' where id = $1`, [id]);
        await tx.query(
          `insert into order_status_history (order_id, status, reason) values ($1, 'paid', 'test')`,
          [id],
        );
        const read = api.request('GET', `/api/v1/orders/${id}`);
        await waitFor(
          async () => {
            const { rows } = await tx.query(
              `select count(*)::int as n from pg_locks
                where relation = 'order_status_history'::regclass and not granted`,
            );
            return rows[0].n > 0;
          },
          { what: 'the read waiting for the history table' },
        );
        await tx.query('commit');
        const res = await read;
        expect(res.status).to.equal(200);
        const history = res.body.data.history as { status: string }[];
        expect(history.at(-1)!.status).to.equal(res.body.data.status);
      } finally {
        await tx.end();
      }
    });

    it('when no order has the id, then 404 naming id', async () => {
      const res = await api.request('GET', `/api/v1/orders/${randomUUID()}`);
      expect(res.status).to.equal(404);
      expect(res.body.errors[0]).to.include({ field: 'id', code: 'not_found' });
    });

    it('when the id is not a UUID, then 400 naming id', async () => {
      const res = await api.request('GET', '/api/v1/orders/not-a-uuid');
      expect(res.status).to.equal(400);
      expect(res.body.errors[0].field).to.equal('id');
    });
  });

  describe('GET /api/v1/orders?user_id=', () => {
    const userId = `pager-${randomUUID().slice(0, 8)}`;
    const createdIds: string[] = [];

    before(async () => {
      for (let i = 0; i < 25; i++) {
        const res = await api.request('POST', '/api/v1/orders', orderBody({ user_id: userId }));
        createdIds.push(res.body.data.id);
      }
      // Another user's orders must never show up.
      await api.request('POST', '/api/v1/orders', orderBody({ user_id: `${userId}-other` }));
    });

    it('when paging with limit 10, then three pages give every order once, newest first', async () => {
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let cursor: string | null = null;
      do {
        const q: string = `/api/v1/orders?user_id=${userId}&limit=10${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await api.request('GET', q);
        expect(res.status).to.equal(200);
        pageSizes.push(res.body.data.length);
        seen.push(...res.body.data.map((o: { id: string }) => o.id));
        cursor = res.body.meta.next_cursor;
      } while (cursor);
      expect(pageSizes).to.deep.equal([10, 10, 5]);
      expect(seen).to.deep.equal([...createdIds].reverse());
    });

    it('when limit is above the cap, then 400 naming limit', async () => {
      const res = await api.request('GET', `/api/v1/orders?user_id=${userId}&limit=1000`);
      expect(res.status).to.equal(400);
      expect(res.body.errors[0].field).to.equal('limit');
    });

    it('when the cursor was not made by the API, then 400 naming cursor', async () => {
      const res = await api.request('GET', `/api/v1/orders?user_id=${userId}&cursor=Zm9vYmFy`);
      expect(res.status).to.equal(400);
      expect(res.body.errors[0].field).to.equal('cursor');
    });

    it('when user_id is missing, then 400 naming user_id', async () => {
      const res = await api.request('GET', '/api/v1/orders');
      expect(res.status).to.equal(400);
      expect(res.body.errors[0].field).to.equal('user_id');
    });

    it('when the user has no orders, then an empty page and no cursor', async () => {
      const res = await api.request('GET', `/api/v1/orders?user_id=nobody-${randomUUID()}`);
      expect(res.body.data).to.deep.equal([]);
      expect(res.body.meta.next_cursor).to.equal(null);
    });
  });

  describe('health', () => {
    it('when Postgres answers, then live and ready are 200', async () => {
      expect((await api.request('GET', '/health/live')).status).to.equal(200);
      const ready = await api.request('GET', '/health/ready');
      expect(ready.status).to.equal(200);
      expect(ready.body.data.checks.postgres).to.equal('ok');
    });

    it('when Postgres is unreachable, then ready is 503 naming postgres, without its error, while live stays 200', async () => {
      const config = testConfig({
        DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere',
        CATALOG_SERVICE_API_URL: api.catalog.url,
      });
      const database = createDatabase({ url: config.databaseUrl, logger: silentLogger() });
      const logged: string[] = [];
      const out = new Writable({
        write(chunk: Buffer, _enc, done) {
          logged.push(chunk.toString());
          done();
        },
      });
      const logger = createLogger({ name: 'web', level: 'warn', out });
      const web = await startWeb(config, { logger, database, port: 0 });
      try {
        const base = `http://127.0.0.1:${web.port}`;
        // The error the check meets, from the same pool, to look for in the answer.
        const raw = await database.ping().then(
          () => expect.fail('Postgres on port 1 answered'),
          (err: Error) => err.message,
        );
        expect(raw).to.match(/ECONNREFUSED/);
        const ready = await request(base, 'GET', '/health/ready');
        expect(ready.status).to.equal(503);
        expect(ready.body.errors).to.deep.equal([
          { code: 'dependency_down', field: 'postgres', message: 'postgres down' },
        ]);
        expect(ready.body.data.checks.postgres).to.equal('down');
        const answer = JSON.stringify(ready.body);
        expect(answer).not.to.include(raw);
        expect(answer).not.to.match(/ECONNREFUSED|127\.0\.0\.1|nowhere|connect/);
        // Operators still find the cause: in the log, not the answer.
        expect(logged.join('')).to.include('readiness check failed').and.to.include('ECONNREFUSED');
        expect((await request(base, 'GET', '/health/live')).status).to.equal(200);
        const post = await request(base, 'POST', '/api/v1/orders', orderBody());
        expect(post.status, 'intake without Postgres').to.equal(503);
        expect(post.headers.get('retry-after')).to.match(/^\d+$/);
        expect(JSON.stringify(post.body)).not.to.match(/ECONNREFUSED|127\.0\.0\.1/);
      } finally {
        await web.stop();
        await database.close();
      }
    });
  });

  describe('API documentation', () => {
    it('when fetching /api/openapi.json, then it documents the create body from the validating joi schema', async () => {
      const res = await api.request('GET', '/api/openapi.json');
      expect(res.status).to.equal(200);
      expect(res.body.openapi).to.match(/^3\./);
      const schema =
        res.body.paths['/api/v1/orders'].post.requestBody.content['application/json'].schema;
      expect(schema.required).to.include.members([
        'item_id',
        'quantity',
        'user_id',
        'idempotency_key',
      ]);
      expect(schema.properties.quantity).to.include({ minimum: 1, maximum: 10000 });
      expect(schema.additionalProperties).to.equal(false);
    });

    it('when any documented answer is read, then its meta requires the request id every answer carries', async () => {
      const doc = (await api.request('GET', '/api/openapi.json')).body;
      let answers = 0;
      type Answer = {
        content: Record<string, { schema: { properties: { meta: { required: string[] } } } }>;
      };
      type Operation = { responses: Record<string, Answer> };
      for (const operations of Object.values<Record<string, Operation>>(doc.paths)) {
        for (const { responses } of Object.values(operations)) {
          for (const [status, r] of Object.entries(responses)) {
            // No Content is the one answer without a body, so without an envelope.
            if (status === '204') continue;
            const meta = r.content['application/json']!.schema.properties.meta;
            expect(meta.required).to.include('request_id');
            answers++;
          }
        }
      }
      expect(answers).to.be.above(20);
      const created = doc.paths['/api/v1/orders'].post.responses['201'];
      expect(created.content['application/json'].schema.properties.meta.properties).to.have.keys(
        'replayed',
        'request_id',
      );
      expect(created.links.GetOrder).to.deep.equal({
        operationId: 'getOrder',
        parameters: { id: '$response.body#/data/id' },
      });
    });

    it('when opening /api/docs, then Swagger UI is served', async () => {
      const res = await api.request('GET', '/api/docs/');
      expect(res.status).to.equal(200);
      expect(String(res.body)).to.contain('swagger-ui');
    });
  });
});
