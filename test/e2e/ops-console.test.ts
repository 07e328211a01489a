import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { orderBody } from '../support/factories.js';
import { insertOrder } from '../support/orders.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { ADMIN_AUTH, startTestSystem, type TestSystem } from '../support/system.js';

const CHROMIUM = '/usr/bin/chromium';

interface JourneyOutbox {
  queue: string;
  attempts: number;
  completed_at: string | null;
  failed_at: string | null;
  failed_attempts: { attempt: number; error: string }[];
}

/**
 * The ops console in Debian's Chromium, on the whole service (dev mode): Payments refuses the
 * first two charges (400, failed for good), an order has waited days for Shipping. The overview
 * shows both; retrying the failure group from the page completes the jobs; the journey of a
 * retried order draws both attempts on its time axis. Screenshots of each page go to a temp
 * folder whose path the test prints.
 */
describe('admin: the ops console in a browser', function () {
  this.timeout(90000);
  let sys: TestSystem;
  let payments: RecordingPeer;
  let refused: string[];
  let stuckId: string;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let shots: string;
  const errors: string[] = [];

  const journey = async (id: string) =>
    (await sys.request('GET', `/admin/orders/${id}/journey`, undefined, ADMIN_AUTH)).body.data;
  const paymentRow = async (id: string) =>
    ((await journey(id)).outbox as JourneyOutbox[]).find((r) => r.queue === 'payments');

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      this.skip(); // Debian's chromium is missing: `apt-get install -y chromium` (.ci/run does).
    }
    payments = await startRecordingPeer([
      { status: 400, body: { error: 'card limit exceeded' }, times: 2 },
      { status: 201, body: { id: 'pay-after-fix' } },
    ]);
    sys = await startTestSystem({ PAYMENTS_SERVICE_API_URL: `${payments.url}/api/payments` });
    refused = [];
    for (let i = 0; i < 2; i++) {
      refused.push(
        (await sys.request('POST', '/api/v1/orders', orderBody())).body.data.id as string,
      );
    }
    await waitFor(
      async () => {
        for (const id of refused) if (!(await paymentRow(id))?.failed_at) return false;
        return true;
      },
      { timeoutMs: 20000, what: 'both refused payments to fail for good' },
    );
    // Paid four days ago and never shipped: past SHIPPING_ANSWER_ALERT_AFTER_MS's 72 h.
    stuckId = (
      await insertOrder(sys.db.db, {
        id: '0190a000-0000-7000-8000-00000000beef',
        status: 'paid',
        updatedAt: new Date(Date.now() - 4 * 24 * 3_600_000),
      })
    ).id;
    shots = await mkdtemp(join(tmpdir(), 'ops-console-e2e-'));
    console.log(`      screenshots: ${shots}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({
      httpCredentials: { username: 'ops', password: 'e2e-pw' },
      viewport: { width: 1280, height: 900 },
    });
  });
  after(async () => {
    await browser?.close();
    await sys?.stop();
    await payments?.close();
  });

  async function open(path: string, width = 1280): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 900 });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // The browser's own /favicon.ico 404 is not the page's fault; a CSP refusal would be.
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) errors.push(m.text());
    });
    const answer = await page.goto(`${sys.dev.apiUrl}${path}`);
    expect(answer?.status(), path).to.equal(200);
    return page;
  }

  it('when the overview is opened, then it shows the stuck order linked to its journey and the failure group the test made', async () => {
    const page = await open('/admin');
    const stuck = page.locator('#waiting a', { hasText: stuckId });
    expect(await stuck.getAttribute('href')).to.equal(`/admin/orders/${stuckId}`);
    expect(await page.locator('#waiting-count').innerText()).to.equal('1');
    expect(await page.locator('#failed-count').innerText()).to.equal('2');
    const group = page.locator('#failed-jobs tbody tr');
    expect(await group.count()).to.equal(1);
    expect(await group.locator('.cause').innerText()).to.match(
      /^PeerRejectedError: payments answered <n>/,
    );
    expect(await group.locator('td').nth(1).innerText()).to.equal('2');
    expect(await page.locator('#throughput svg.spark polyline').count()).to.equal(3);
    await page.screenshot({ path: join(shots, 'overview-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    // On a phone the sections stack: none is wider than the screen.
    let widest = 0;
    for (const section of await page.locator('section').all()) {
      const box = await section.boundingBox();
      widest = Math.max(widest, box ? box.x + box.width : 0);
    }
    expect(widest).to.be.at.most(390);
    await page.screenshot({ path: join(shots, 'overview-phone.png'), fullPage: true });
    expect(errors, 'no script or CSP errors').to.deep.equal([]);
  });

  it('when the group is retried from the page after the fix, then every job of it completes', async () => {
    const page = await open('/admin');
    page.on('dialog', (d) => {
      expect(d.message()).to.match(/Retry all 2 failures of this cause/);
      void d.accept();
    });
    const row = page.locator('#failed-jobs tbody tr');
    await row.getByRole('button', { name: 'Retry 2' }).click();
    await row.locator('output', { hasText: 'retried' }).waitFor();
    expect(await row.locator('output').innerText()).to.equal('retried 2 of 2');
    await page.screenshot({ path: join(shots, 'overview-after-retry.png'), fullPage: true });
    await waitFor(
      async () => {
        for (const id of refused) if (!(await paymentRow(id))?.completed_at) return false;
        return true;
      },
      { timeoutMs: 20000, what: 'the retried payment jobs to complete' },
    );
    const again = await open('/admin');
    expect(await again.locator('#failed-jobs tbody tr').count()).to.equal(0);
    expect(errors, 'no script or CSP errors').to.deep.equal([]);
  });

  it('when the journey of a retried order is opened, then its time axis shows the failed attempt and the one that completed', async () => {
    const row = await paymentRow(refused[0]!);
    expect(row?.failed_attempts.map((a) => a.attempt)).to.deep.equal([1]);
    const page = await open(`/admin/orders/${refused[0]}`);
    const lane = page.locator('#waterfall g.lane', { hasText: 'payments · payment.requested' });
    const failed = lane.locator('circle.attempt.failed');
    const completed = lane.locator('circle.attempt.ok');
    expect(await failed.count()).to.equal(1);
    expect(await completed.count()).to.equal(1);
    expect(await failed.locator('title').textContent()).to.match(
      /^attempt 1 failed \+[\d.]+ (ms|s): .*400.*card limit exceeded/,
    );
    expect(await completed.locator('title').textContent()).to.match(/^attempt 2 completed \+/);
    const [failedBox, completedBox] = [await failed.boundingBox(), await completed.boundingBox()];
    expect(completedBox!.x, 'the completion is drawn after the failure').to.be.greaterThan(
      failedBox!.x,
    );
    expect(await page.locator('#waterfall .status-change').count()).to.equal(1);
    await page.screenshot({ path: join(shots, 'journey-retried-order.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(shots, 'journey-retried-order-phone.png'), fullPage: true });
    expect(errors, 'no script or CSP errors').to.deep.equal([]);
  });
});
