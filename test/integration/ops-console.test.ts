import { Worker, type Job } from 'bullmq';
import { expect } from 'chai';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { insertDeadLetter } from '../../db/dead-letters.js';
import { orderStatusHistory } from '../../db/schema.js';
import { v7 as uuidv7 } from 'uuid';
import { createQueues, type QueueSet } from '../../jobs/outbox/queues.js';
import { closeRedis, createRedis, redisTargetOf } from '../../jobs/redis.js';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { PeerRejectedError } from '../../lib/domain/errors.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startTestApiOnRedis } from '../support/api.js';
import { insertOrder } from '../support/orders.js';
import { startedForSuite } from '../support/suite.js';

const auth = { authorization: `Basic ${Buffer.from('ops:console-pw').toString('base64')}` };

interface Group {
  key: string;
  cause: string;
  count: number;
  sources: string[];
  first_seen: string;
  last_seen: string;
  sample: Record<string, unknown>;
}

/**
 * The ops console against a real web process, Postgres and Redis: failed jobs (made by a worker
 * of the test's own on the service's queues) grouped by cause, the confirmed, audited and
 * rate-limited group retry, the dead-letter group replay, and the overview's figures, which
 * must be the ones /metrics gives.
 */
describe('admin: the ops console', function () {
  this.timeout(30000);
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const api = startedForSuite(() =>
    startTestApiOnRedis({
      label: 'console',
      env: {
        ADMIN_USER: 'ops',
        ADMIN_PASSWORD: 'console-pw',
        ADMIN_GROUP_RETRY_INTERVAL_MS: '60000',
        SHIPPING_ANSWER_ALERT_AFTER_MS: '3600000',
      },
      deps: { logger: createLogger({ name: 'web', level: 'info', out }) },
    }),
  );
  let queues: QueueSet;
  let worker: Worker;
  let workerConnection: ReturnType<typeof createRedis>;
  /** Job ids the worker lets through from now on. */
  const healed = new Set<string>();

  before(async () => {
    queues = createQueues(api.config, silentLogger());
    workerConnection = createRedis(redisTargetOf(api.config), 'worker');
    worker = new Worker(
      'payments',
      async (job: Job) => {
        if (healed.has(job.id!)) return 'done';
        throw new PeerRejectedError('payments', 400, `order ${String(job.data.orderId)} refused`);
      },
      { connection: workerConnection, prefix: api.config.bullPrefix },
    );
    const failed = (n: number) =>
      new Promise<void>((resolve) => {
        let seen = 0;
        worker.on('failed', () => {
          seen += 1;
          if (seen === n) resolve();
        });
      });
    const allFailed = failed(3);
    for (let i = 0; i < 3; i++) {
      await queues.queues.payments.add(
        'payment.requested',
        {
          outboxId: i + 1,
          jobId: randomUUID(),
          orderId: randomUUID(),
          idempotencyKey: 'k',
          payload: {},
        },
        { jobId: `outbox-${randomUUID()}`, attempts: 1 },
      );
    }
    await allFailed;
  });
  after(async () => {
    await worker?.close();
    await closeRedis(workerConnection);
    await queues?.close();
  });

  const jobGroups = async (): Promise<Group[]> =>
    (await api.request('GET', '/admin/failures', undefined, auth)).body.data.jobs.groups;

  it('when any console route is asked without credentials, then 401 and nothing done', async () => {
    for (const [method, path] of [
      ['GET', '/admin'],
      ['GET', '/admin/overview.json'],
      ['GET', '/admin/failures'],
      ['GET', '/admin/console.js'],
      ['POST', '/admin/failures/jobs/retry'],
      ['POST', '/admin/failures/dead-letters/replay'],
    ] as const) {
      const res = await api.request(
        method,
        path,
        method === 'POST' ? { group: 'x', count: 1 } : undefined,
      );
      expect(res.status, `${method} ${path}`).to.equal(401);
    }
    expect(await queues.queues.payments.getFailedCount()).to.equal(3);
  });

  it('when jobs failed with one cause but different ids, then they form one group with its count, queues, times and a sample', async () => {
    const groups = await jobGroups();
    expect(groups).to.have.length(1);
    const [g] = groups;
    expect(g).to.include({
      count: 3,
      cause: 'PeerRejectedError: payments answered <n>: order <id> refused',
    });
    expect(g!.sources).to.deep.equal(['payments']);
    expect(Date.parse(g!.first_seen)).to.be.at.most(Date.parse(g!.last_seen));
    expect(String(g!.sample.failed_reason)).to.match(
      /^payments answered 400: order [0-9a-f-]{36} refused$/,
    );
    expect(g!.sample.queue).to.equal('payments');

    const page = String((await api.request('GET', '/admin', undefined, auth)).body);
    expect(page).to.include('id="failed-count">3<');
    const metrics = String((await api.request('GET', '/metrics', undefined, auth)).body);
    expect(metrics).to.match(/^queue_jobs\{queue="payments",state="failed"\} 3$/m);
  });

  it('when a group retry comes without the confirmed count, or with a count that no longer holds, then nothing is retried', async () => {
    const [g] = await jobGroups();
    const unconfirmed = await api.request(
      'POST',
      '/admin/failures/jobs/retry',
      { group: g!.key },
      auth,
    );
    expect(unconfirmed.status).to.equal(400);
    const stale = await api.request(
      'POST',
      '/admin/failures/jobs/retry',
      { group: g!.key, count: 2 },
      auth,
    );
    expect(stale.status).to.equal(409);
    expect(stale.body.errors[0].message).to.match(/has 3 failures now, not the 2 confirmed/);
    expect(await queues.queues.payments.getFailedCount()).to.equal(3);
  });

  it('when a group retry is confirmed, then each of its jobs runs again and completes, the answer says how many, and the log names the admin', async () => {
    const [g] = await jobGroups();
    const failedJobs = await queues.queues.payments.getFailed();
    for (const j of failedJobs) healed.add(j.id!);
    const completed = once(worker, 'completed');
    const res = await api.request(
      'POST',
      '/admin/failures/jobs/retry',
      { group: g!.key, count: 3 },
      auth,
    );
    expect(res.status).to.equal(200);
    expect(res.body.data).to.include({ key: g!.key, confirmed: 3, retried: 3, skipped: 0 });
    await completed;
    await waitFor(async () => (await queues.queues.payments.getCompletedCount()) === 3, {
      timeoutMs: 10000,
      what: 'the retried jobs to complete',
    });
    expect(await queues.queues.payments.getFailedCount()).to.equal(0);
    const audit = lines.map((l) => JSON.parse(l)).find((l) => l.audit === 'failed_job_group_retry');
    expect(audit).to.include({
      admin_user: 'ops',
      key: g!.key,
      retried: 3,
      msg: 'admin: failed-job group retried',
    });
    expect(JSON.stringify(audit)).not.to.include('console-pw');

    const again = await api.request(
      'POST',
      '/admin/failures/jobs/retry',
      { group: g!.key, count: 3 },
      auth,
    );
    expect(again.status, 'a second group action within the interval').to.equal(429);
    expect(Number(again.headers.get('retry-after'))).to.be.within(1, 60);
  });

  it('when a dead-letter group replay follows a job group retry within the interval, then 429: one budget for both', async () => {
    const id = randomUUID();
    await insertDeadLetter(api.db.db, {
      topic: 'shipping.responses',
      partition: 0,
      offset: '1',
      key: id,
      value: '{}',
      reason: `unknown order ${id}`,
    });
    const [g] = (await api.request('GET', '/admin/failures', undefined, auth)).body.data
      .dead_letters.groups as Group[];
    const limited = await api.request(
      'POST',
      '/admin/failures/dead-letters/replay',
      { group: g!.key, count: 1 },
      auth,
    );
    expect(limited.status).to.equal(429);
    const open = await api.db.pool.query(
      'select count(*)::int as n from dead_letters where replayed_at is null',
    );
    expect(open.rows[0].n).to.equal(1);
  });
});

describe('admin: the ops console overview and dead-letter groups', function () {
  this.timeout(30000);
  const api = startedForSuite(() =>
    startTestApiOnRedis({
      label: 'console2',
      env: {
        ADMIN_USER: 'ops',
        ADMIN_PASSWORD: 'console-pw',
        ADMIN_GROUP_RETRY_INTERVAL_MS: '0',
        SHIPPING_ANSWER_ALERT_AFTER_MS: '3600000',
      },
    }),
  );

  async function deadLetter(orderId: string, offset: number, reason = `unknown order ${orderId}`) {
    await insertDeadLetter(api.db.db, {
      topic: 'shipping.responses',
      partition: 0,
      offset: String(offset),
      key: orderId,
      value: JSON.stringify({
        event_type: 'order.shipped',
        order_id: orderId,
        shipment_id: `shp-${offset}`,
      }),
      reason,
    });
  }

  it('when dead letters share a cause, then they form one group, and a confirmed replay sends each through the replay path', async () => {
    const orderIds = [randomUUID(), randomUUID()];
    for (const [i, id] of orderIds.entries()) await deadLetter(id, 100 + i);
    const groups = (await api.request('GET', '/admin/failures', undefined, auth)).body.data
      .dead_letters.groups as Group[];
    expect(groups.map((g) => [g.cause, g.count])).to.deep.equal([['unknown order <id>', 2]]);
    await insertOrder(api.db.db, { id: orderIds[0], status: 'paid' });

    const res = await api.request(
      'POST',
      '/admin/failures/dead-letters/replay',
      { group: groups[0]!.key, count: 2 },
      auth,
    );
    expect(res.status).to.equal(200);
    // The order of the second letter still does not exist: intake refuses it, it stays.
    expect(res.body.data).to.include({ confirmed: 2, replayed: 1 });
    expect(res.body.data.refused).to.have.length(1);
    const inbox = await api.db.pool.query(
      "select order_id from inbox where source = 'shipping' and event_type = 'order.shipped'",
    );
    expect(inbox.rows).to.deep.equal([{ order_id: orderIds[0] }]);
    const open = await api.db.pool.query('select key from dead_letters where replayed_at is null');
    expect(open.rows).to.deep.equal([{ key: orderIds[1] }]);
  });

  it('when orders were made within the hour and before the day, then only the recent ones are counted by status, and their status changes per minute', async () => {
    // Other tests' orders (random v4 ids) may count too: the figures are compared before and after.
    const read = async () => {
      const o = (await api.request('GET', '/admin/overview.json', undefined, auth)).body.data;
      const byStatus = o.orders_by_status.value as {
        status: string;
        lastHour: number;
        lastDay: number;
      }[];
      const count = (status: string) => {
        const s = byStatus.find((x) => x.status === status);
        return [s?.lastHour ?? 0, s?.lastDay ?? 0];
      };
      const perMinute = o.throughput.value.perMinute as Record<string, number[]>;
      const sum = (a: number[]) => a.reduce((n, v) => n + v, 0);
      expect(perMinute.new).to.have.length(60);
      expect(o.throughput.value.capped).to.equal(false);
      return {
        byStatus: [count('new'), count('paid'), count('shipped')].flat(),
        perMinute: [sum(perMinute.new!), sum(perMinute.paid!), sum(perMinute.shipped!)],
      };
    };
    const before = await read();
    const now = Date.now();
    const recent = [
      await insertOrder(api.db.db, { id: uuidv7(), status: 'new' }),
      await insertOrder(api.db.db, { id: uuidv7(), status: 'paid' }),
    ];
    const twoDaysAgo = new Date(now - 2 * 24 * 3_600_000);
    await insertOrder(api.db.db, {
      id: uuidv7({ msecs: twoDaysAgo.getTime() }),
      status: 'shipped',
      createdAt: twoDaysAgo,
    });
    await api.db.db.insert(orderStatusHistory).values([
      { orderId: recent[0]!.id, status: 'new' },
      { orderId: recent[1]!.id, status: 'new' },
      { orderId: recent[1]!.id, status: 'paid' },
    ]);

    const after = await read();
    const delta = (a: number[], b: number[]) => a.map((v, k) => v - b[k]!);
    // new: 1 in the hour, 1 in the day; paid: 1, 1; the shipped one is two days old: 0, 0.
    expect(delta(after.byStatus, before.byStatus)).to.deep.equal([1, 1, 1, 1, 0, 0]);
    expect(delta(after.perMinute, before.perMinute)).to.deep.equal([2, 1, 0]);
  });

  it('when the overview is opened, then it links the stuck order, shows escaped causes, and its figures are the ones /metrics gives', async () => {
    const stuck = await insertOrder(api.db.db, {
      status: 'paid',
      updatedAt: new Date(Date.now() - 2 * 3_600_000),
    });
    await deadLetter(randomUUID(), 200, 'bad value <img src=x onerror=alert(1)>');

    const page = await api.request('GET', '/admin', undefined, auth);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/text\/html/);
    const html = String(page.body);
    expect(html).to.include(`href="/admin/orders/${stuck.id}"`);
    expect(html).to.include('bad value &lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.to.include('<img src=x');
    expect(html).to.include('<svg class="spark"');
    expect(html).to.include('href="/admin/queues"');
    // Its own script file only, and no upgrade of the page's own http requests to https.
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("script-src 'self'").and.include("frame-ancestors 'none'");
    expect(csp).not.to.include('upgrade-insecure-requests');

    const overview = (await api.request('GET', '/admin/overview.json', undefined, auth)).body.data;
    const metrics = String((await api.request('GET', '/metrics', undefined, auth)).body);
    const scraped = (line: string) =>
      Number(new RegExp(`^${line} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const waiting = overview.orders_waiting_too_long.value as {
      labels: { status: string };
      value: number;
    }[];
    expect(waiting.find((w) => w.labels.status === 'paid')?.value).to.equal(1);
    expect(scraped('orders_waiting_too_long\\{status="paid"\\}')).to.equal(1);
    expect(overview.dead_letters.value[0].value).to.equal(2);
    expect(scraped('dead_letters')).to.equal(2);
    expect(overview.waiting_orders.value.map((w: { id: string }) => w.id)).to.deep.equal([
      stuck.id,
    ]);
    // Without Kafka configured the web process reads no lag: the figure says so, the page stands.
    expect(overview.consumer_lag.ok).to.equal(false);
  });
});
