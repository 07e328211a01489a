import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { validate as uuidValidate, version as uuidVersion } from 'uuid';
import { WEBHOOK_SUBSCRIPTIONS_PATH as PATH } from '../../api/routes/webhook-subscriptions.js';
import { OUTBOX_CHANNEL } from '../../db/outbox/events.js';
import { ORDER_EVENT_TYPES } from '../../lib/domain/order-events.js';
import { createLogger } from '../../lib/platform/logger.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';

const USER = 'ops';
const PASSWORD = 'hooks-admin-pw-41c9';
const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
const adminEnv = { ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD };
const PUBLIC_URL = 'https://erp.example.com/hooks/orders';
const WHSEC = /^whsec_([A-Za-z0-9+/]+=*)$/;

interface StoredSubscription {
  id: string;
  url: string;
  events: string[];
  description: string;
  active: boolean;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  disabled_reason: string | null;
  disabled_at: Date | null;
}

async function stored(api: TestApi, id: string): Promise<StoredSubscription | undefined> {
  const { rows } = await api.db.pool.query<StoredSubscription>(
    'select * from webhook_subscriptions where id = $1',
    [id],
  );
  return rows[0];
}

async function subscriptionCount(api: TestApi): Promise<number> {
  const { rows } = await api.db.pool.query<{ n: number }>(
    'select count(*)::int as n from webhook_subscriptions',
  );
  return rows[0]!.n;
}

async function subscribe(api: TestApi, body: Record<string, unknown> = {}) {
  const res = await api.request(
    'POST',
    PATH,
    { url: PUBLIC_URL, events: ['order.paid', 'order.shipped'], ...body },
    auth,
  );
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.data as { id: string; secret: string; url: string; events: string[] };
}

/** An event's outbox row as the delivery side writes it, and one attempt at delivering it. */
async function deliveredEvent(
  api: TestApi,
  subscriptionId: string,
  { attempts = 1, event = 'order.paid' }: { attempts?: number; event?: string } = {},
) {
  const orderId = randomUUID();
  const messageId = `msg_${randomUUID()}`;
  const payload = {
    subscription_id: subscriptionId,
    message_id: messageId,
    order_id: orderId,
    event,
    body: JSON.stringify({
      type: event,
      timestamp: new Date().toISOString(),
      data: { id: orderId },
    }),
  };
  const outbox = await api.db.pool.query<{ id: number }>(
    `insert into outbox (queue, event_type, order_id, idempotency_key, payload, completed_at)
     values ('webhooks', $1, $2, $3, $4, now()) returning id`,
    [event, orderId, randomUUID(), payload],
  );
  const outboxId = Number(outbox.rows[0]!.id);
  const deliveryIds: number[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const delivered = attempt === attempts;
    const { rows } = await api.db.pool.query<{ id: number }>(
      `insert into webhook_deliveries (subscription_id, outbox_id, message_id, order_id, event_type,
         attempt, outcome, status_code, latency_ms, response_excerpt, error)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning id`,
      [
        subscriptionId,
        outboxId,
        messageId,
        orderId,
        event,
        attempt,
        delivered ? 'delivered' : 'failed',
        delivered ? 200 : 503,
        12 + attempt,
        delivered ? 'ok' : 'busy',
        delivered ? null : 'subscriber answered 503',
      ],
    );
    deliveryIds.push(Number(rows[0]!.id));
  }
  return { outboxId, messageId, orderId, payload, deliveryIds };
}

describe('webhook subscriptions (admin API)', function () {
  this.timeout(20000);
  const logLines: string[] = [];
  const api = startedForSuite(() =>
    startTestApi({
      label: 'hook_subs',
      env: adminEnv,
      // Every line the web process logs, at the most detailed level, to look for secrets in.
      deps: {
        logger: createLogger({
          name: 'web',
          level: 'trace',
          out: new Writable({
            write(chunk: Buffer, _enc, done) {
              logLines.push(chunk.toString('utf8'));
              done();
            },
          }),
        }),
      },
    }),
  );

  describe('create, read, list, change, delete', () => {
    it('when a subscription is created, then 201 with a UUIDv7 id and a whsec_ secret of 32 random bytes, kept as given', async () => {
      const before = Date.now();
      const res = await api.request(
        'POST',
        PATH,
        { url: PUBLIC_URL, events: ['order.paid'], description: 'Warehouse ERP' },
        auth,
      );
      expect(res.status).to.equal(201);
      const data = res.body.data;
      expect(uuidValidate(data.id) && uuidVersion(data.id)).to.equal(7);
      expect(data.secret).to.match(WHSEC);
      expect(Buffer.from(WHSEC.exec(data.secret)![1]!, 'base64')).to.have.length(32);
      expect(data).to.deep.include({
        url: PUBLIC_URL,
        events: ['order.paid'],
        description: 'Warehouse ERP',
        active: true,
        disabled_reason: null,
        disabled_at: null,
        previous_secret_expires_at: null,
      });
      expect(Date.parse(data.created_at)).to.be.within(before - 1000, Date.now() + 1000);
      const row = await stored(api, data.id);
      expect(row).to.deep.include({
        url: PUBLIC_URL,
        events: ['order.paid'],
        description: 'Warehouse ERP',
        active: true,
        secret: data.secret,
        previous_secret: null,
      });
    });

    it('when subscriptions are read and listed, then they are shown without any secret', async () => {
      const a = await subscribe(api, { events: ['*'] });
      const b = await subscribe(api, { events: [...ORDER_EVENT_TYPES] });

      const one = await api.request('GET', `${PATH}/${a.id}`, undefined, auth);
      expect(one.status).to.equal(200);
      expect(one.body.data).to.include({ id: a.id, url: PUBLIC_URL });
      expect(one.body.data.events).to.deep.equal(['*']);
      expect(one.body.data).not.to.have.any.keys('secret', 'previous_secret');

      const list = await api.request('GET', PATH, undefined, auth);
      expect(list.status).to.equal(200);
      const ids = list.body.data.map((s: { id: string }) => s.id);
      expect(ids).to.include.members([a.id, b.id]);
      expect(ids.indexOf(a.id), 'oldest first').to.be.below(ids.indexOf(b.id));
      for (const s of list.body.data) expect(s).not.to.have.any.keys('secret', 'previous_secret');
      const text = JSON.stringify([one.body, list.body]);
      for (const secret of [a.secret, b.secret]) expect(text).not.to.contain(secret.slice(6));
    });

    it('when an unknown or malformed id is read, then 404 or 400 naming id', async () => {
      const unknown = await api.request('GET', `${PATH}/${randomUUID()}`, undefined, auth);
      expect(unknown.status).to.equal(404);
      expect(unknown.body.errors[0]).to.include({ code: 'not_found', field: 'id' });
      const malformed = await api.request('GET', `${PATH}/not-an-id`, undefined, auth);
      expect(malformed.status).to.equal(400);
      expect(malformed.body.errors[0].field).to.equal('id');
    });

    it('when url, events and description are patched, then they change and the secret stays', async () => {
      const s = await subscribe(api);
      const res = await api.request(
        'PATCH',
        `${PATH}/${s.id}`,
        { url: 'https://wms.example.org/in', events: ['order.cancelled'], description: 'WMS' },
        auth,
      );
      expect(res.status).to.equal(200);
      expect(res.body.data).to.deep.include({
        url: 'https://wms.example.org/in',
        events: ['order.cancelled'],
        description: 'WMS',
        active: true,
      });
      expect(res.body.data).not.to.have.any.keys('secret');
      const row = (await stored(api, s.id))!;
      expect(row).to.deep.include({ url: 'https://wms.example.org/in', secret: s.secret });
    });

    it('when a subscription is turned off and on again, then the admin reason is recorded and re-activating clears any reason', async () => {
      const s = await subscribe(api);
      const off = await api.request('PATCH', `${PATH}/${s.id}`, { active: false }, auth);
      expect(off.status).to.equal(200);
      expect(off.body.data).to.include({
        active: false,
        disabled_reason: 'deactivated through the admin API',
      });
      expect(off.body.data.disabled_at).to.be.a('string');

      // As the delivery side disables one that answered 410.
      await api.db.pool.query(
        `update webhook_subscriptions set disabled_reason = 'subscriber answered 410 Gone' where id = $1`,
        [s.id],
      );
      const on = await api.request('PATCH', `${PATH}/${s.id}`, { active: true }, auth);
      expect(on.status).to.equal(200);
      expect(on.body.data).to.include({ active: true, disabled_reason: null, disabled_at: null });
      expect(await stored(api, s.id)).to.include({
        active: true,
        disabled_reason: null,
        disabled_at: null,
      });
    });

    it('when an empty or unknown-field patch is sent, then 400 and nothing changes', async () => {
      const s = await subscribe(api);
      const empty = await api.request('PATCH', `${PATH}/${s.id}`, {}, auth);
      expect(empty.status).to.equal(400);
      const extra = await api.request('PATCH', `${PATH}/${s.id}`, { secret: 'whsec_AAAA' }, auth);
      expect(extra.status).to.equal(400);
      expect(extra.body.errors[0].field).to.equal('secret');
      expect((await stored(api, s.id))!.secret).to.equal(s.secret);
      const unknown = await api.request('PATCH', `${PATH}/${randomUUID()}`, { active: true }, auth);
      expect(unknown.status).to.equal(404);
    });

    it('when a subscription is deleted, then 204, it is gone with its deliveries, and deleting again is 404', async () => {
      const s = await subscribe(api);
      await deliveredEvent(api, s.id);
      const res = await api.request('DELETE', `${PATH}/${s.id}`, undefined, auth);
      expect(res.status).to.equal(204);
      expect(await stored(api, s.id)).to.equal(undefined);
      const { rows } = await api.db.pool.query(
        'select 1 from webhook_deliveries where subscription_id = $1',
        [s.id],
      );
      expect(rows).to.have.length(0);
      expect((await api.request('GET', `${PATH}/${s.id}`, undefined, auth)).status).to.equal(404);
      expect((await api.request('DELETE', `${PATH}/${s.id}`, undefined, auth)).status).to.equal(
        404,
      );
    });
  });

  describe('secret rotation', () => {
    it('when the secret is rotated, then the new one is shown once and the old one is kept as previous for 24 h', async () => {
      const s = await subscribe(api);
      const res = await api.request('POST', `${PATH}/${s.id}/rotate-secret`, undefined, auth);
      expect(res.status).to.equal(200);
      const fresh = res.body.data.secret as string;
      expect(fresh).to.match(WHSEC).and.not.equal(s.secret);

      const row = (await stored(api, s.id))!;
      expect(row.secret).to.equal(fresh);
      expect(row.previous_secret).to.equal(s.secret);
      const { rows } = await api.db.pool.query<{ off_ms: number }>(
        `select (abs(extract(epoch from previous_secret_expires_at - (now() + interval '24 hours')))
           * 1000)::float8 as off_ms
         from webhook_subscriptions where id = $1`,
        [s.id],
      );
      expect(rows[0]!.off_ms, 'expires 24 h after the rotation').to.be.below(10_000);
      expect(Date.parse(res.body.data.previous_secret_expires_at)).to.equal(
        row.previous_secret_expires_at!.getTime(),
      );

      const read = await api.request('GET', `${PATH}/${s.id}`, undefined, auth);
      expect(read.body.data).not.to.have.any.keys('secret', 'previous_secret');
      expect(JSON.stringify(read.body)).not.to.contain(fresh.slice(6));
    });

    it('when rotated twice, then the previous is the one just replaced and the first stops signing', async () => {
      const s = await subscribe(api);
      const first = await api.request('POST', `${PATH}/${s.id}/rotate-secret`, undefined, auth);
      const second = await api.request('POST', `${PATH}/${s.id}/rotate-secret`, undefined, auth);
      const row = (await stored(api, s.id))!;
      expect(row.secret).to.equal(second.body.data.secret);
      expect(row.previous_secret).to.equal(first.body.data.secret);
      expect([row.secret, row.previous_secret]).not.to.include(s.secret);
    });

    it('when an unknown subscription is rotated, then 404', async () => {
      const res = await api.request(
        'POST',
        `${PATH}/${randomUUID()}/rotate-secret`,
        undefined,
        auth,
      );
      expect(res.status).to.equal(404);
    });
  });

  describe('refused input', () => {
    const privateUrls = [
      'http://127.0.0.1/x',
      'http://10.0.0.1',
      'http://[::1]/',
      'http://localhost/',
      'https://user:pw@erp.example.com/hook',
      'ftp://erp.example.com/hook',
    ];

    it('when the URL is private, loopback, carries credentials or is not http(s), then 400 naming url and nothing is written', async () => {
      const before = await subscriptionCount(api);
      for (const url of privateUrls) {
        const res = await api.request('POST', PATH, { url, events: ['*'] }, auth);
        expect(res.status, url).to.equal(400);
        expect(res.body.errors, url).to.have.length(1);
        expect(res.body.errors[0], url).to.include({ code: 'validation_error', field: 'url' });
        expect(res.body.errors[0].message, url).to.match(/^url /);
      }
      expect(await subscriptionCount(api)).to.equal(before);
    });

    it('when a subscription is patched to a private URL, then 400 naming url and the URL stays', async () => {
      const s = await subscribe(api);
      for (const url of privateUrls) {
        const res = await api.request('PATCH', `${PATH}/${s.id}`, { url }, auth);
        expect(res.status, url).to.equal(400);
        expect(res.body.errors[0].field, url).to.equal('url');
      }
      expect((await stored(api, s.id))!.url).to.equal(PUBLIC_URL);
    });

    it('when events name an unknown event, repeat one, mix in "*" or are empty, then 400 naming events and nothing is written', async () => {
      const before = await subscriptionCount(api);
      for (const events of [
        ['order.bogus'],
        ['order.paid', 'order.paid'],
        ['*', 'order.paid'],
        [],
        'order.paid',
      ]) {
        const res = await api.request('POST', PATH, { url: PUBLIC_URL, events }, auth);
        expect(res.status, JSON.stringify(events)).to.equal(400);
        expect(res.body.errors[0].field, JSON.stringify(events)).to.equal('events');
      }
      expect(await subscriptionCount(api)).to.equal(before);
    });

    it('when the body has an unknown field, a long description or no url, then 400 naming each', async () => {
      const res = await api.request(
        'POST',
        PATH,
        { events: ['*'], description: 'x'.repeat(501), secret: 'whsec_mine' },
        auth,
      );
      expect(res.status).to.equal(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).to.have.members([
        'url',
        'description',
        'secret',
      ]);
    });
  });

  describe('credentials', () => {
    it('when called without or with wrong credentials, then 401 with a challenge and nothing is written', async () => {
      const before = await subscriptionCount(api);
      const s = await subscribe(api);
      const wrong = { authorization: `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}` };
      for (const headers of [{}, wrong]) {
        const calls: [string, string, unknown?][] = [
          ['POST', PATH, { url: PUBLIC_URL, events: ['*'] }],
          ['GET', PATH],
          ['GET', `${PATH}/${s.id}`],
          ['PATCH', `${PATH}/${s.id}`, { active: false }],
          ['DELETE', `${PATH}/${s.id}`],
          ['POST', `${PATH}/${s.id}/rotate-secret`],
          ['GET', `${PATH}/${s.id}/deliveries`],
          ['POST', `${PATH}/${s.id}/deliveries/1/redeliver`],
        ];
        for (const [method, path, body] of calls) {
          const res = await api.request(method, path, body, headers);
          expect(res.status, `${method} ${path}`).to.equal(401);
          expect(res.headers.get('www-authenticate')).to.match(/^Basic /);
        }
      }
      expect(await subscriptionCount(api)).to.equal(before + 1);
      expect(await stored(api, s.id)).to.include({ active: true, secret: s.secret });
    });
  });

  describe('deliveries', () => {
    it('when the deliveries are listed a page at a time, then each page is newest first and next_before leads through all of them', async () => {
      const s = await subscribe(api);
      const other = await subscribe(api);
      const first = await deliveredEvent(api, s.id, { attempts: 3 });
      await deliveredEvent(api, other.id);
      const second = await deliveredEvent(api, s.id, { attempts: 2, event: 'order.shipped' });
      const all = [...first.deliveryIds, ...second.deliveryIds].sort((x, y) => y - x);

      const seen: number[] = [];
      let before: number | null = null;
      let pages = 0;
      do {
        const query: string = `?limit=2${before === null ? '' : `&before=${before}`}`;
        const res = await api.request('GET', `${PATH}/${s.id}/deliveries${query}`, undefined, auth);
        expect(res.status).to.equal(200);
        expect(res.body.meta.limit).to.equal(2);
        seen.push(...res.body.data.map((d: { id: number }) => d.id));
        before = res.body.meta.next_before;
        pages++;
      } while (before !== null && pages < 10);
      expect(seen).to.deep.equal(all);
      expect(pages).to.equal(3);

      const newest = await api.request('GET', `${PATH}/${s.id}/deliveries`, undefined, auth);
      expect(newest.body.data[0]).to.deep.include({
        id: second.deliveryIds[1],
        outbox_id: second.outboxId,
        message_id: second.messageId,
        order_id: second.orderId,
        event_type: 'order.shipped',
        attempt: 2,
        outcome: 'delivered',
        status_code: 200,
        latency_ms: 14,
        response_excerpt: 'ok',
        error: null,
      });
      expect(newest.body.data[1]).to.include({
        outcome: 'failed',
        status_code: 503,
        error: 'subscriber answered 503',
      });
      expect(newest.body.meta.next_before).to.equal(null);
    });

    it('when the deliveries of an unknown subscription or with a bad limit are asked for, then 404 or 400', async () => {
      const unknown = await api.request(
        'GET',
        `${PATH}/${randomUUID()}/deliveries`,
        undefined,
        auth,
      );
      expect(unknown.status).to.equal(404);
      const s = await subscribe(api);
      const bad = await api.request('GET', `${PATH}/${s.id}/deliveries?limit=0`, undefined, auth);
      expect(bad.status).to.equal(400);
      expect(bad.body.errors[0].field).to.equal('limit');
    });
  });

  describe('redelivery', () => {
    it("when a delivery is redelivered, then 202 and one new outbox row on the same queue with the original's payload under a new key, and the relay is woken", async () => {
      const s = await subscribe(api);
      const event = await deliveredEvent(api, s.id, { attempts: 2 });
      const listener = new pg.Client({ connectionString: api.db.url });
      await listener.connect();
      try {
        const notified = new Promise<void>((resolve) =>
          listener.on('notification', () => resolve()),
        );
        await listener.query(`listen ${OUTBOX_CHANNEL}`);

        const res = await api.request(
          'POST',
          `${PATH}/${s.id}/deliveries/${event.deliveryIds[0]}/redeliver`,
          undefined,
          auth,
        );
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
        expect(res.body.data).to.include({
          subscription_id: s.id,
          delivery_id: event.deliveryIds[0],
          message_id: event.messageId,
        });
        const { rows } = await api.db.pool.query(
          `select id, queue, event_type, order_id, idempotency_key, payload, completed_at
           from outbox where payload->>'message_id' = $1 order by id`,
          [event.messageId],
        );
        expect(rows).to.have.length(2);
        const [original, copy] = rows;
        expect(Number(copy.id)).to.equal(res.body.data.outbox_id);
        expect(copy).to.deep.include({
          queue: 'webhooks',
          event_type: 'order.paid',
          order_id: event.orderId,
          payload: event.payload,
          completed_at: null,
        });
        expect(copy.idempotency_key).not.to.equal(original.idempotency_key);
        await notified;
      } finally {
        await listener.end();
      }
    });

    it('when the subscription, the delivery or its event is unknown, then 404 saying which, and nothing is written', async () => {
      const s = await subscribe(api);
      const other = await subscribe(api);
      const mine = await deliveredEvent(api, s.id);
      const theirs = await deliveredEvent(api, other.id);
      const gone = await deliveredEvent(api, s.id);
      await api.db.pool.query('delete from outbox where id = $1', [gone.outboxId]);
      const outboxRows = async () =>
        (await api.db.pool.query<{ n: number }>('select count(*)::int as n from outbox')).rows[0]!
          .n;
      const before = await outboxRows();

      const cases: [string, string, RegExp][] = [
        [
          `${randomUUID()}/deliveries/${mine.deliveryIds[0]}`,
          'id',
          /subscription .* does not exist/,
        ],
        [`${s.id}/deliveries/${Number.MAX_SAFE_INTEGER}`, 'delivery_id', /delivery \d+ of/],
        [`${s.id}/deliveries/${theirs.deliveryIds[0]}`, 'delivery_id', /delivery \d+ of/],
        [`${s.id}/deliveries/${gone.deliveryIds[0]}`, 'delivery_id', /no longer kept/],
      ];
      for (const [path, field, message] of cases) {
        const res = await api.request('POST', `${PATH}/${path}/redeliver`, undefined, auth);
        expect(res.status, path).to.equal(404);
        expect(res.body.errors[0], path).to.include({ code: 'not_found', field });
        expect(res.body.errors[0].message, path).to.match(message);
      }
      expect(await outboxRows()).to.equal(before);
    });

    it('when the subscription is inactive, then 409 and nothing is written', async () => {
      const s = await subscribe(api);
      const event = await deliveredEvent(api, s.id);
      await api.request('PATCH', `${PATH}/${s.id}`, { active: false }, auth);
      const res = await api.request(
        'POST',
        `${PATH}/${s.id}/deliveries/${event.deliveryIds[0]}/redeliver`,
        undefined,
        auth,
      );
      expect(res.status).to.equal(409);
      expect(res.body.errors[0].message).to.match(/inactive/);
      const { rows } = await api.db.pool.query(
        `select 1 from outbox where payload->>'message_id' = $1`,
        [event.messageId],
      );
      expect(rows).to.have.length(1);
    });
  });

  describe('logs', () => {
    it('when a subscription is created, rotated and read, then neither secret reaches the log', async () => {
      const s = await subscribe(api);
      const rotated = await api.request('POST', `${PATH}/${s.id}/rotate-secret`, undefined, auth);
      await api.request('GET', `${PATH}/${s.id}`, undefined, auth);
      const log = logLines.join('');
      expect(log).to.contain('webhook subscription created');
      expect(log).to.contain('webhook subscription secret rotated');
      for (const secret of [s.secret, rotated.body.data.secret as string]) {
        // The base64 part: the logger masks whole `whsec_…` strings, not bare key material.
        expect(log).not.to.contain(secret.slice('whsec_'.length));
      }
    });
  });
});

describe('webhook subscriptions with WEBHOOK_ALLOW_PRIVATE_URLS=true', function () {
  this.timeout(20000);
  const api = startedForSuite(() =>
    startTestApi({
      label: 'hook_subs_private',
      env: { ...adminEnv, WEBHOOK_ALLOW_PRIVATE_URLS: 'true' },
    }),
  );

  it('when the URL is loopback or private, then it is subscribed; the scheme and credentials rules still hold', async () => {
    for (const url of [
      'http://127.0.0.1/x',
      'http://10.0.0.1',
      'http://[::1]/',
      'http://localhost/',
    ]) {
      const res = await api.request('POST', PATH, { url, events: ['*'] }, auth);
      expect(res.status, url).to.equal(201);
      expect(res.body.data.url).to.equal(url);
    }
    for (const url of ['ftp://127.0.0.1/', 'http://a:b@127.0.0.1/']) {
      const res = await api.request('POST', PATH, { url, events: ['*'] }, auth);
      expect(res.status, url).to.equal(400);
      expect(res.body.errors[0].field).to.equal('url');
    }
  });
});

describe('webhook subscriptions with the admin surface off', function () {
  this.timeout(20000);
  const api = startedForSuite(() => startTestApi({ label: 'hook_subs_off' }));

  it('when no admin credentials are configured, then every endpoint is 404 and nothing is written', async () => {
    const id = randomUUID();
    const calls: [string, string, unknown?][] = [
      ['POST', PATH, { url: PUBLIC_URL, events: ['*'] }],
      ['GET', PATH],
      ['GET', `${PATH}/${id}`],
      ['PATCH', `${PATH}/${id}`, { active: false }],
      ['DELETE', `${PATH}/${id}`],
      ['POST', `${PATH}/${id}/rotate-secret`],
      ['GET', `${PATH}/${id}/deliveries`],
      ['POST', `${PATH}/${id}/deliveries/1/redeliver`],
    ];
    for (const [method, path, body] of calls) {
      const res = await api.request(method, path, body, auth);
      expect(res.status, `${method} ${path}`).to.equal(404);
    }
    expect(await subscriptionCount(api)).to.equal(0);
  });
});
