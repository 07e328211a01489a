import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { orderBody } from '../support/factories.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { ADMIN_AUTH, startTestSystem, type TestSystem } from '../support/system.js';

const CHROMIUM = '/usr/bin/chromium';

interface JourneyOutbox {
  queue: string;
  attempts: number;
  completed_at: string | null;
  failed_attempts: { attempt: number; error: string }[];
  job: { state: string; attempts_made: number | null };
}

/**
 * Ops' view of one order: Payments answers 503 twice, then 201. The journey shows the payment
 * job completed after three attempts, with each failed attempt's error, as JSON and as a page.
 * It also lists the order's webhook deliveries (rows written here as the webhook processor would).
 */
describe('admin: an order journey', function () {
  this.timeout(60000);
  let sys: TestSystem;
  let payments: RecordingPeer;
  let orderId: string;
  const subscriptionId = randomUUID();
  // A subscriber's answer is whatever it sent: the page must show it as text, never as markup.
  const hostileExcerpt = '<script>alert(1)</script> down';

  before(async () => {
    payments = await startRecordingPeer([
      { status: 503, body: { error: 'payments briefly down' }, times: 2 },
      { status: 201, body: { id: 'pay-1' } },
    ]);
    sys = await startTestSystem({ PAYMENTS_SERVICE_API_URL: `${payments.url}/api/payments` });
    const created = await sys.request('POST', '/api/v1/orders', orderBody());
    orderId = created.body.data.id as string;
    await waitFor(
      async () => {
        const res = await sys.request(
          'GET',
          `/admin/orders/${orderId}/journey`,
          undefined,
          ADMIN_AUTH,
        );
        const rows = res.body.data?.outbox as JourneyOutbox[] | undefined;
        return rows?.find((r) => r.queue === 'payments')?.job.state === 'completed';
      },
      { timeoutMs: 20000, what: 'the payment job to complete' },
    );
    await sys.db.pool.query(
      `insert into webhook_subscriptions (id, url, events, secret)
       values ($1, 'https://erp.example/hooks', '{*}', 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0')`,
      [subscriptionId],
    );
    await sys.db.pool.query(
      `insert into webhook_deliveries (subscription_id, message_id, order_id, event_type, attempt,
         outcome, status_code, error, latency_ms, response_excerpt)
       values ($1, 'msg_journey', $2, 'order.created', 1, 'failed', 503, 'subscriber answered 503', 41, $3),
              ($1, 'msg_journey', $2, 'order.created', 2, 'delivered', 204, null, 7, '')`,
      [subscriptionId, orderId, hostileExcerpt],
    );
  });
  after(async () => {
    await sys?.stop();
    await payments?.close();
  });

  it('when a job failed twice and then succeeded, then the journey shows each failed attempt and the job completed', async () => {
    const res = await sys.request('GET', `/admin/orders/${orderId}/journey`, undefined, ADMIN_AUTH);

    expect(res.status).to.equal(200);
    const journey = res.body.data;
    expect(journey.order).to.include({ id: orderId, status: 'new' });
    expect(journey.order.history.map((h: { status: string }) => h.status)).to.deep.equal(['new']);
    const payment = (journey.outbox as JourneyOutbox[]).find((r) => r.queue === 'payments')!;
    expect(payment.attempts).to.equal(3);
    expect(payment.completed_at).to.be.a('string');
    // BullMQ counts the successful attempt too.
    expect(payment.job).to.include({ state: 'completed', attempts_made: 3 });
    expect(payment.failed_attempts.map((a) => a.attempt)).to.deep.equal([1, 2]);
    for (const a of payment.failed_attempts) expect(a.error).to.match(/503.*payments briefly down/);
    // The order's first payment check, written when Payments accepted, waits its 10 minutes.
    expect(journey.outbox.map((r: JourneyOutbox) => r.queue).sort()).to.deep.equal([
      'notifications',
      'payment-checks',
      'payments',
    ]);
    expect(journey.inbox).to.deep.equal([]);
    expect(journey.dead_letters).to.deep.equal([]);
    // Tracing is off in this process: there is no trace to name.
    expect(journey.trace_id).to.equal(null);
  });

  it('when the order has webhook deliveries, then the journey lists each attempt with its outcome, status, latency and answer, and the page shows them escaped', async () => {
    const res = await sys.request('GET', `/admin/orders/${orderId}/journey`, undefined, ADMIN_AUTH);

    expect(res.status).to.equal(200);
    const deliveries = res.body.data.webhook_deliveries as Record<string, unknown>[];
    expect(deliveries.map(({ id: _id, at: _at, ...d }) => d)).to.deep.equal([
      {
        subscription_id: subscriptionId,
        webhook_id: 'msg_journey',
        event: 'order.created',
        attempt: 1,
        outcome: 'failed',
        status_code: 503,
        latency_ms: 41,
        response_excerpt: hostileExcerpt,
        error: 'subscriber answered 503',
      },
      {
        subscription_id: subscriptionId,
        webhook_id: 'msg_journey',
        event: 'order.created',
        attempt: 2,
        outcome: 'delivered',
        status_code: 204,
        latency_ms: 7,
        response_excerpt: '',
        error: null,
      },
    ]);
    for (const d of deliveries) expect(d.at).to.match(/^\d{4}-\d\d-\d\dT.*Z$/);

    const page = await sys.request('GET', `/admin/orders/${orderId}`, undefined, ADMIN_AUTH);
    const html = page.body as string;
    expect(html).to.include('<h2>Webhook deliveries</h2>');
    expect(html).to.include('&lt;script&gt;alert(1)&lt;/script&gt; down');
    expect(html).to.not.include('<script>');
  });

  it('when the journey is asked for without the admin credentials, then 401 and nothing shown', async () => {
    const res = await sys.request('GET', `/admin/orders/${orderId}/journey`);
    expect(res.status).to.equal(401);
    expect(JSON.stringify(res.body)).to.not.include(orderId);
  });

  it('when the journey page is opened in a browser, then it renders and shows the failed attempts', async function () {
    if (!existsSync(CHROMIUM)) {
      this.skip(); // Debian's chromium is missing: `apt-get install -y chromium` (.ci/run does).
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({
        httpCredentials: { username: 'ops', password: 'e2e-pw' },
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        // The browser's own /favicon.ico 404 is not the page's fault; a CSP refusal would be.
        if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico'))
          errors.push(m.text());
      });
      const answer = await page.goto(`${sys.dev.apiUrl}/admin/orders/${orderId}`);

      expect(answer?.status()).to.equal(200);
      expect(await page.locator('h1').innerText()).to.include(orderId);
      const failed = page.locator('.errors li');
      expect(await failed.count()).to.equal(2);
      expect(await failed.first().innerText()).to.match(/attempt 1 .*503.*payments briefly down/);
      const jobLink = page
        .getByRole('row', { name: /payments payment\.requested/ })
        .getByRole('link');
      expect(await jobLink.innerText()).to.equal('completed');
      expect(await jobLink.getAttribute('href')).to.match(
        /^\/admin\/queues\/queue\/payments\/outbox-/,
      );
      const delivery = page.getByRole('row', { name: /order\.created 1 failed 503/ });
      expect(await delivery.innerText()).to.include(subscriptionId);
      expect(await delivery.getByRole('cell').nth(7).innerText()).to.equal(
        '<script>alert(1)</script> down',
      );
      expect(errors, 'no script or CSP errors').to.deep.equal([]);
    } finally {
      await browser.close();
    }
  });
});
