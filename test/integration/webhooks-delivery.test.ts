import { expect } from 'chai';
import { sql } from 'drizzle-orm';
import { createHash, randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Webhook } from 'standardwebhooks';
import { lockOrder } from '../../db/order-transitions.js';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { insertWebhookSubscription, type NewSubscription } from '../../db/webhook-subscriptions.js';
import { startWorker, webhooksProcessorFor, type RunningWorker } from '../../jobs/start-worker.js';
import { applyTransition } from '../../lib/orders/apply-transition.js';
import { orderStateOf, transition, type OrderEvent } from '../../lib/domain/order-state.js';
import { isPublicAddress } from '../../lib/peers/subscriber-address.js';
import { createSubscribersClient } from '../../lib/peers/subscribers.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createMetrics, type Metrics } from '../../lib/platform/metrics.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import {
  startRecordingPeer,
  type PeerReply,
  type RecordedRequest,
  type RecordingPeer,
} from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startTestApi, testConfig, workerEnv, type TestApi } from '../support/api.js';
import { orderBody } from '../support/factories.js';
import { newWebhookSecret } from '../support/webhooks.js';

interface WebhookRow {
  id: number;
  event_type: string;
  idempotency_key: string;
  payload: {
    subscription_id: string;
    message_id: string;
    order_id: string;
    event: string;
    body: string;
  };
  completed: boolean;
  failed: boolean;
}

interface DeliveryRow {
  outbox_id: number;
  message_id: string;
  event_type: string;
  attempt: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  latency_ms: number | null;
  response_excerpt: string | null;
}

interface Subscriber {
  id: string;
  secret: string;
  peer: RecordingPeer;
}

/**
 * Order webhooks end to end inside one process: the API takes orders, transitions go through the
 * one writer (applyTransition), the worker's relay and webhooks processor deliver to real local
 * HTTP receivers (fetch is never stubbed), on a database and a Redis prefix of their own.
 */
function webhookSuite(
  title: string,
  env: Record<string, string>,
  body: (s: ReturnType<typeof harness>) => void,
) {
  describe(title, function () {
    this.timeout(30_000);
    const h = harness(env);
    body(h);
  });
}

function harness(env: Record<string, string>) {
  let api: TestApi;
  let redis: TestRedisPrefix;
  let worker: RunningWorker;
  let metrics: Metrics;
  const peers: RecordingPeer[] = [];

  before(async () => {
    api = await startTestApi({ label: 'webhooks' });
    redis = createTestRedisPrefix();
    const config = testConfig({
      ...workerEnv(api.db, redis, {
        payments: { url: 'http://127.0.0.1:9' },
        notifications: { url: 'http://127.0.0.1:9' },
      }),
      WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
      WEBHOOK_TIMEOUT_MS: '2000',
      JOB_BACKOFF_MS: '20',
      JOB_BACKOFF_MAX_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '2000',
      ...env,
    });
    metrics = createMetrics({ defaults: false });
    worker = await startWorker(config, {
      database: api.db,
      logger: silentLogger(),
      metrics,
      processors: [webhooksProcessorFor(config, api.db.db, metrics)],
    });
  });

  // Every subscription receives every order's events: each test starts with none active.
  afterEach(async () => {
    await api.db.pool.query('update webhook_subscriptions set active = false');
  });

  after(async () => {
    await worker?.stop();
    await Promise.all(peers.map((p) => p.close()));
    await redis?.flush();
    await api?.stop();
  });

  return {
    api: () => api,
    metrics: () => metrics,
    async receiver(replies: PeerReply[] = [{ status: 204 }]): Promise<RecordingPeer> {
      const peer = await startRecordingPeer(replies);
      peers.push(peer);
      return peer;
    },
    async subscribe(
      peer: RecordingPeer,
      events: string[] = ['*'],
      extra: Partial<NewSubscription> = {},
    ): Promise<Subscriber> {
      const secret = extra.secret ?? newWebhookSecret();
      const id = await insertWebhookSubscription(api.db.db, {
        url: new URL('/hooks', peer.url).toString(),
        events,
        secret,
        ...extra,
      });
      return { id, secret, peer };
    },
    /** Creates an order through the API; returns its JSON as the API answered (no history). */
    async createOrder(): Promise<Record<string, unknown>> {
      const res = await api.request('POST', '/api/v1/orders', orderBody());
      expect(res.status).to.equal(201);
      const { history: _history, ...order } = res.body.data as Record<string, unknown>;
      return order;
    },
    /** An event applied by the one writer of transitions, as the inbox processor applies it. */
    async move(
      orderId: string,
      event: OrderEvent,
      facts: { shipmentId?: string } = {},
      /** Active only during the transition's transaction: inactive again when it commits. */
      activeWhileWriting?: string,
    ) {
      await api.db.db.transaction(async (tx) => {
        const active = (on: boolean) =>
          tx.execute(
            sql`update webhook_subscriptions set active = ${on} where id = ${activeWhileWriting}`,
          );
        if (activeWhileWriting) await active(true);
        const order = await lockOrder(tx, orderId);
        if (!order) throw new Error(`no order ${orderId}`);
        const decision = transition(orderStateOf(order), event);
        if (!decision.ok) throw new Error(decision.reason);
        await applyTransition(tx, order, decision, { paymentId: `pay_${randomUUID()}`, ...facts });
        if (activeWhileWriting) await active(false);
      });
    },
    async getOrder(orderId: string): Promise<Record<string, unknown>> {
      const res = await api.request('GET', `/api/v1/orders/${orderId}`);
      const { history: _history, ...order } = res.body.data as Record<string, unknown>;
      return order;
    },
    async webhookRows(orderId: string): Promise<WebhookRow[]> {
      const { rows } = await api.db.pool.query<WebhookRow>(
        `select id::int, event_type, idempotency_key, payload,
                completed_at is not null as completed, failed_at is not null as failed
         from outbox where queue = 'webhooks' and order_id = $1 order by id`,
        [orderId],
      );
      return rows;
    },
    async deliveries(subscriptionId: string): Promise<DeliveryRow[]> {
      const { rows } = await api.db.pool.query<DeliveryRow>(
        `select outbox_id::int, message_id, event_type, attempt, outcome, status_code, error,
                latency_ms, response_excerpt
         from webhook_deliveries where subscription_id = $1 order by id`,
        [subscriptionId],
      );
      return rows;
    },
    async subscription(id: string) {
      const { rows } = await api.db.pool.query<{ active: boolean; disabled_reason: string | null }>(
        'select active, disabled_reason from webhook_subscriptions where id = $1',
        [id],
      );
      return rows[0]!;
    },
    async disabledMetric(reason: string): Promise<number> {
      const text = await metrics.registry.metrics();
      const m = new RegExp(
        `^webhook_subscriptions_disabled_total\\{reason="${reason}"\\} (\\d+)$`,
        'm',
      ).exec(text);
      return m ? Number(m[1]) : 0;
    },
  };
}

const typeOf = (r: RecordedRequest) => (r.body as { type: string }).type;
const forOrder = (peer: RecordingPeer, orderId: string) =>
  peer.requests.filter((r) => (r.body as { data?: { id?: string } }).data?.id === orderId);
const headersOf = (r: RecordedRequest) => ({
  'webhook-id': String(r.headers['webhook-id']),
  'webhook-timestamp': String(r.headers['webhook-timestamp']),
  'webhook-signature': String(r.headers['webhook-signature']),
});
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

webhookSuite('order webhooks: fan-out and delivery', {}, (h) => {
  async function untilDelivered(peer: RecordingPeer, orderId: string, n: number) {
    await waitFor(async () => forOrder(peer, orderId).filter(() => true).length >= n, {
      what: `${n} deliveries of order ${orderId}`,
    });
  }

  it('when a subscriber to * gets an order created and paid, then each event arrives once, signed so that standardwebhooks verifies it, with the order as GET shows it', async () => {
    const peer = await h.receiver([{ status: 200, body: { ok: true } }]);
    const sub = await h.subscribe(peer);

    const created = await h.createOrder();
    const orderId = String(created.id);
    await h.move(orderId, 'payment.succeeded');
    await untilDelivered(peer, orderId, 2);
    await waitFor(async () => (await h.webhookRows(orderId)).every((r) => r.completed), {
      what: 'webhook rows completed',
    });

    const got = forOrder(peer, orderId);
    expect(got.map(typeOf)).to.deep.equal(['order.created', 'order.paid']);
    const webhook = new Webhook(sub.secret);
    for (const r of got) {
      expect(r.method).to.equal('POST');
      expect(r.path).to.equal('/hooks');
      expect(r.headers['content-type']).to.equal('application/json');
      expect(() => webhook.verify(r.raw, headersOf(r))).not.to.throw();
      const expectedId = `msg_${md5(`${orderId}:${typeOf(r)}:${sub.id}`)}`;
      expect(r.headers['webhook-id']).to.equal(expectedId);
    }
    // A wrong secret does not verify: the check above could fail.
    expect(() =>
      new Webhook(newWebhookSecret()).verify(got[0]!.raw, headersOf(got[0]!)),
    ).to.throw();
    const [createdBody, paidBody] = got.map((r) => JSON.parse(r.raw) as Record<string, unknown>);
    expect(createdBody!.data).to.deep.equal(created);
    expect(paidBody!.data).to.deep.equal(await h.getOrder(orderId));
    expect(paidBody!.timestamp).to.equal((paidBody!.data as { updated_at: string }).updated_at);
    expect(createdBody!.timestamp).to.equal(created.created_at);

    const deliveries = await h.deliveries(sub.id);
    expect(
      deliveries.map((d) => [d.event_type, d.outcome, d.status_code, d.attempt]),
    ).to.deep.equal([
      ['order.created', 'delivered', 200, 1],
      ['order.paid', 'delivered', 200, 1],
    ]);
    for (const d of deliveries) {
      expect(d.response_excerpt).to.equal('{"ok":true}');
      expect(d.latency_ms).to.be.a('number').and.at.least(0);
    }
    const rows = await h.webhookRows(orderId);
    expect(rows.map((r) => r.payload.message_id)).to.deep.equal(
      deliveries.map((d) => d.message_id),
    );
    expect(rows.map((r) => r.idempotency_key.replaceAll('-', ''))).to.deep.equal(
      rows.map((r) => r.payload.message_id.slice('msg_'.length)),
    );
  });

  it('when a subscription lists only order.paid, then its subscriber gets order.paid and nothing else', async () => {
    const paidOnly = await h.subscribe(await h.receiver(), ['order.paid']);
    const shippedOnly = await h.subscribe(await h.receiver(), ['order.shipped']);

    const orderId = String((await h.createOrder()).id);
    await h.move(orderId, 'payment.succeeded');
    await untilDelivered(paidOnly.peer, orderId, 1);

    const rows = await h.webhookRows(orderId);
    expect(rows.map((r) => [r.event_type, r.payload.subscription_id])).to.deep.equal([
      ['order.paid', paidOnly.id],
    ]);
    expect(forOrder(paidOnly.peer, orderId).map(typeOf)).to.deep.equal(['order.paid']);
    expect(forOrder(shippedOnly.peer, orderId)).to.deep.equal([]);
  });

  it('when no subscription is active, then creating and moving an order writes no webhooks row', async () => {
    const inactive = await h.subscribe(await h.receiver());
    await h
      .api()
      .db.pool.query('update webhook_subscriptions set active = false where id = $1', [
        inactive.id,
      ]);

    const orderId = String((await h.createOrder()).id);
    await h.move(orderId, 'payment.succeeded');
    await h.move(orderId, 'order.shipped', { shipmentId: 'ship-1' });

    expect(await h.webhookRows(orderId)).to.deep.equal([]);
    const { rows } = await h
      .api()
      .db.pool.query<{ n: number }>('select count(*)::int as n from outbox where order_id = $1', [
        orderId,
      ]);
    // The order's other effects are written as before: the statements did run.
    expect(rows[0]!.n).to.be.greaterThan(0);
  });

  it('when the subscriber answers 410, then the subscription is disabled, the attempt recorded as gone, and later events are skipped', async () => {
    const sub = await h.subscribe(await h.receiver([{ status: 410, body: { gone: true } }]));
    const before = await h.disabledMetric('gone');

    const orderId = String((await h.createOrder()).id);
    await waitFor(async () => !(await h.subscription(sub.id)).active, { what: 'disabled by 410' });
    await waitFor(async () => (await h.webhookRows(orderId))[0]?.completed === true, {
      what: 'the row completed',
    });

    const state = await h.subscription(sub.id);
    expect(state.disabled_reason).to.match(/410/);
    expect(await h.disabledMetric('gone')).to.equal(before + 1);
    const [attempt] = await h.deliveries(sub.id);
    expect(attempt).to.include({ outcome: 'gone', status_code: 410, attempt: 1 });
    expect(forOrder(sub.peer, orderId)).to.have.length(1);

    // A row written while it was still active (a fan-out committed just before the 410) is
    // skipped, not sent: active only inside the transition's own transaction.
    await h.move(orderId, 'payment.succeeded', {}, sub.id);
    await waitFor(async () => (await h.webhookRows(orderId))[1]?.completed === true, {
      what: 'the later row completed',
    });
    const later = (await h.deliveries(sub.id))[1];
    expect(later).to.include({ event_type: 'order.paid', outcome: 'skipped', status_code: null });
    expect(later!.error).to.match(/inactive/);
    expect(forOrder(sub.peer, orderId)).to.have.length(1);
  });

  it('when the subscriber answers 503 and then 200, then the delivery is retried with the same id and bytes, and both attempts are recorded', async () => {
    const sub = await h.subscribe(
      await h.receiver([{ status: 503, body: { down: 'briefly' } }, { status: 200 }]),
      ['order.created'],
    );

    const orderId = String((await h.createOrder()).id);
    await waitFor(async () => (await h.webhookRows(orderId))[0]?.completed === true, {
      what: 'the row completed',
    });

    const got = forOrder(sub.peer, orderId);
    expect(got).to.have.length(2);
    expect(got[1]!.raw).to.equal(got[0]!.raw);
    expect(got[1]!.headers['webhook-id']).to.equal(got[0]!.headers['webhook-id']);
    const attempts = await h.deliveries(sub.id);
    expect(attempts.map((d) => [d.attempt, d.outcome, d.status_code])).to.deep.equal([
      [1, 'failed', 503],
      [2, 'delivered', 200],
    ]);
    expect(attempts[0]!.error).to.match(/503/);
    expect(attempts[0]!.response_excerpt).to.equal('{"down":"briefly"}');
  });

  it('when the first attempts of an earlier event fail, then the later event of the same order waits, arrives after it, and uses no attempt waiting', async () => {
    const sub = await h.subscribe(await h.receiver([{ status: 503, times: 3 }, { status: 200 }]));

    const orderId = String((await h.createOrder()).id);
    await h.move(orderId, 'payment.succeeded');
    await h.move(orderId, 'order.shipped', { shipmentId: 'ship-2' });
    await waitFor(async () => (await h.webhookRows(orderId)).every((r) => r.completed), {
      what: 'all three rows completed',
    });

    const sent = forOrder(sub.peer, orderId).map(typeOf);
    expect(sent).to.deep.equal([
      'order.created',
      'order.created',
      'order.created',
      'order.created',
      'order.paid',
      'order.shipped',
    ]);
    const attempts = await h.deliveries(sub.id);
    expect(
      attempts
        .filter((d) => d.event_type !== 'order.created')
        .map((d) => [d.event_type, d.attempt]),
    ).to.deep.equal([
      ['order.paid', 1],
      ['order.shipped', 1],
    ]);
  });

  it('when an event is redelivered while a later one of the order is still failing, then the redelivery is not held back and is sent, with the original id and bytes', async () => {
    const sub = await h.subscribe(await h.receiver([{ status: 200 }]), ['*']);
    const orderId = String((await h.createOrder()).id);
    await h.move(orderId, 'payment.succeeded');
    await waitFor(async () => (await h.webhookRows(orderId)).every((r) => r.completed), {
      what: 'both delivered',
    });
    sub.peer.script([{ status: 503 }]);
    await h.move(orderId, 'order.shipped', { shipmentId: 'ship-3' });
    await waitFor(async () => (await h.deliveries(sub.id)).some((d) => d.outcome === 'failed'), {
      what: 'order.shipped failing',
    });
    sub.peer.script([{ status: 503, times: 1000 }, { status: 200 }]);
    const paid = (await h.webhookRows(orderId)).find((r) => r.event_type === 'order.paid')!;
    const sentBefore = forOrder(sub.peer, orderId).length;

    // As the admin API redelivers: the original payload, a random key (db/outbox/rows.ts).
    await h.api().db.db.transaction((tx) =>
      insertOutboxRows(tx, [
        {
          queue: 'webhooks',
          eventType: 'order.paid',
          orderId,
          idempotencyKey: randomUUID(),
          payload: paid.payload as unknown as Record<string, unknown>,
        },
      ]),
    );
    await waitFor(
      async () =>
        forOrder(sub.peer, orderId)
          .slice(sentBefore)
          .some((r) => typeOf(r) === 'order.paid'),
      { what: 'the redelivery sent while order.shipped still fails' },
    );

    const again = forOrder(sub.peer, orderId)
      .slice(sentBefore)
      .find((r) => typeOf(r) === 'order.paid')!;
    expect(again.raw).to.equal(paid.payload.body);
    expect(again.headers['webhook-id']).to.equal(paid.payload.message_id);
    const shipped = (await h.webhookRows(orderId)).find((r) => r.event_type === 'order.shipped')!;
    expect(shipped.completed).to.equal(false);
  });

  it('when the secret was rotated less than its overlap ago, then each delivery carries two signatures, one verifying with each secret', async () => {
    const previous = newWebhookSecret();
    const sub = await h.subscribe(await h.receiver(), ['order.created'], {
      previousSecret: previous,
      previousSecretExpiresAt: new Date(Date.now() + 3600_000),
    });
    const expired = await h.subscribe(await h.receiver(), ['order.created'], {
      previousSecret: newWebhookSecret(),
      previousSecretExpiresAt: new Date(Date.now() - 1000),
    });

    const orderId = String((await h.createOrder()).id);
    await untilDelivered(sub.peer, orderId, 1);
    await untilDelivered(expired.peer, orderId, 1);

    const [r] = forOrder(sub.peer, orderId);
    const signatures = String(r!.headers['webhook-signature']).split(' ');
    expect(signatures).to.have.length(2);
    for (const [secret, signature] of [
      [sub.secret, signatures[0]!],
      [previous, signatures[1]!],
    ] as const) {
      const alone = { ...headersOf(r!), 'webhook-signature': signature };
      expect(() => new Webhook(secret).verify(r!.raw, alone)).not.to.throw();
    }
    const [e] = forOrder(expired.peer, orderId);
    expect(String(e!.headers['webhook-signature']).split(' ')).to.have.length(1);
  });
  it('when the subscriber refuses connections, then the attempt is recorded failed and retried, and its error names the reason without the URL and its token', async () => {
    // Not h.receiver(): the suite would close it again.
    const closed = await startRecordingPeer();
    const url = new URL('/hooks?token=s3cr3t-in-query', closed.url).toString();
    await closed.close();
    const sub = await h.subscribe(closed, ['order.created'], { url });

    await h.createOrder();
    await waitFor(async () => (await h.deliveries(sub.id)).length >= 2, {
      what: 'two failed attempts',
    });

    const attempts = await h.deliveries(sub.id);
    expect(attempts.slice(0, 2).map((d) => [d.attempt, d.outcome, d.status_code])).to.deep.equal([
      [1, 'failed', null],
      [2, 'failed', null],
    ]);
    expect(attempts[0]!.error).to.match(/ECONNREFUSED/);
    expect(attempts[0]!.error).not.to.include('s3cr3t');
    expect(attempts[0]!.error).not.to.include('/hooks');
  });
});

webhookSuite('order webhooks: giving up', { JOB_RETRY_WINDOW_MS: '1500' }, (h) => {
  it('when a subscriber fails for the whole retry window, then the row fails, the subscription is disabled saying why, and the metric counts it', async () => {
    const sub = await h.subscribe(await h.receiver([{ status: 500 }]), ['order.created']);

    const orderId = String((await h.createOrder()).id);
    await waitFor(async () => (await h.webhookRows(orderId))[0]?.failed === true, {
      what: 'the row given up',
      timeoutMs: 15_000,
    });
    await waitFor(async () => !(await h.subscription(sub.id)).active, { what: 'disabled' });

    expect((await h.subscription(sub.id)).disabled_reason).to.match(/whole retry window.*500/);
    expect(await h.disabledMetric('retry_window')).to.equal(1);
    const attempts = await h.deliveries(sub.id);
    expect(attempts.length).to.be.greaterThan(1);
    expect(attempts.every((d) => d.outcome === 'failed' && d.status_code === 500)).to.equal(true);
  });
});

describe('order webhooks: the subscribers client', () => {
  it('when the subscriber does not answer within the bound, then the delivery times out as retryable', async () => {
    const silent = http.createServer(() => {
      // Never answers: the client's bound must end the wait.
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const client = createSubscribersClient({ timeoutMs: 200, allowPrivate: true });

      const result = await client.deliver({
        url: `http://127.0.0.1:${port}/hooks`,
        secret: newWebhookSecret(),
        messageId: 'msg_test',
        body: '{}',
      });

      expect(result.kind).to.equal('unreachable');
      if (result.kind !== 'unreachable') return;
      expect(result.error.timedOut).to.equal(true);
      expect(result.error.retriable).to.equal(true);
      expect(result.latencyMs).to.be.at.least(150);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('when a name resolves to a loopback address and private URLs are not allowed, then the connection is refused and nothing is sent', async function () {
    const name = hostname();
    const addresses = await lookup(name, { all: true }).catch(() => []);
    if (addresses.length === 0 || addresses.some((a) => isPublicAddress(a.address))) {
      // The machine's own name is what resolves locally without a hosts file of our own.
      this.skip();
    }
    const peer = await startRecordingPeer([{ status: 200 }]);
    try {
      const port = new URL(peer.url).port;
      const client = createSubscribersClient({ timeoutMs: 2000, allowPrivate: false });

      const result = await client.deliver({
        url: `http://${name}:${port}/hooks`,
        secret: newWebhookSecret(),
        messageId: 'msg_test',
        body: '{}',
      });

      expect(result.kind).to.equal('unreachable');
      if (result.kind !== 'unreachable') return;
      expect(result.error.retriable).to.equal(true);
      expect(result.error.message).to.match(/may not reach/);
      expect(peer.requests).to.have.length(0);
      // The same name with private URLs allowed does reach it: the refusal above is the rule's.
      const allowed = createSubscribersClient({ timeoutMs: 2000, allowPrivate: true });
      const ok = await allowed.deliver({
        url: `http://${name}:${port}/hooks`,
        secret: newWebhookSecret(),
        messageId: 'msg_test',
        body: '{}',
      });
      expect(ok).to.include({ kind: 'answered', status: 200 });
    } finally {
      await peer.close();
    }
  });
});
