import { expect } from 'chai';
import { orderFacts } from '../support/factories.js';
import { eq } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { outbox, type OutboxRow } from '../../db/schema.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { loadConfig } from '../../lib/platform/config.js';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { createMetrics, type Metrics } from '../../lib/platform/metrics.js';
import { notification, paymentRequested, type NewOutboxRow } from '../../db/outbox/events.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { bullJobIdOfRow, outboxRowById } from '../support/orders.js';
import {
  requestsForOrder,
  startRecordingPeer,
  type RecordingPeer,
} from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { workerEnv } from '../support/api.js';

describe('outbox processors (payments, notifications)', function () {
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let payments: RecordingPeer;
  let notifications: RecordingPeer;
  let worker: RunningWorker;
  let metrics: Metrics;
  const logLines: Array<Record<string, unknown>> = [];

  async function insert(row: NewOutboxRow): Promise<number> {
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [row]));
    return id!;
  }

  const outboxRow = (id: number) => outboxRowById(tdb.db, id);

  async function until(id: number, what: 'completed' | 'failed'): Promise<OutboxRow> {
    let row: OutboxRow | undefined;
    await waitFor(
      async () => {
        row = await outboxRow(id);
        return what === 'completed' ? row.completedAt !== null : row.failedAt !== null;
      },
      { what: `outbox row ${id} ${what}` },
    );
    return row!;
  }

  before(async () => {
    tdb = await createTestDatabase('processors');
    redis = createTestRedisPrefix();
    payments = await startRecordingPeer();
    notifications = await startRecordingPeer();
    const config = loadConfig({
      ...workerEnv(tdb, redis, { payments, notifications }),
      PAYMENTS_CALLBACK_URL: 'http://127.0.0.1:1/api/v1/orders/payment-callback',
      CAPASHINO_SERVICE_ACCESS_TOKEN: 'test-token',
      PEER_TIMEOUT_MS: '2000',
      JOB_BACKOFF_MS: '5',
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          logLines.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    });
    metrics = createMetrics({ defaults: false });
    worker = await startWorker(config, {
      database: tdb,
      metrics,
      logger: createLogger({ name: 'test-worker', level: 'debug', out }),
    });
  });

  after(async () => {
    await worker?.stop();
    await payments?.close();
    await notifications?.close();
    await redis?.flush();
    await tdb?.drop();
  });

  it('when Payments answers 500 three times and then 201, then the payment is delivered once, after 4 requests', async () => {
    payments.script([
      { status: 500, times: 3 },
      { status: 201, body: { id: 'p-1' } },
    ]);
    const order = orderFacts();
    const id = await insert(paymentRequested(order));

    const row = await until(id, 'completed');

    const seen = requestsForOrder(payments, order.id);
    expect(seen).to.have.length(4);
    expect(seen[0]?.method).to.equal('POST');
    expect(seen[0]?.headers['x-api-key']).to.equal('test-token');
    expect(seen[3]?.body).to.deep.equal({
      order_id: order.id,
      amount: '5.00',
      idempotency_key: order.paymentIdempotencyKey,
      callback_url: 'http://127.0.0.1:1/api/v1/orders/payment-callback',
    });
    expect(row).to.include({ attempts: 4, lastError: null, failedAt: null });
  });

  it('when a job attempt fails, then its log lines carry order_id and job_id', async () => {
    const order = orderFacts();
    payments.script([{ status: 503, times: 1 }, { status: 201 }]);
    const id = await insert(paymentRequested(order));
    await until(id, 'completed');

    const jobId = await bullJobIdOfRow(tdb.db, id);
    const lines = logLines.filter((l) => l.order_id === order.id);
    expect(lines.map((l) => l.msg)).to.include('job attempt failed; will retry');
    expect(lines.every((l) => l.job_id === jobId && l.outbox_id === id)).to.equal(true);
  });

  it('when Payments rejects with 400, then the job fails at once with the reason, and an ops retry after the fix completes the row', async () => {
    payments.script([{ status: 400, body: { error: 'amount must be positive' } }]);
    const order = orderFacts();
    const id = await insert(paymentRequested(order));

    const failed = await until(id, 'failed');

    expect(requestsForOrder(payments, order.id)).to.have.length(1);
    expect(failed.lastError).to.match(/payments answered 400: .*amount must be positive/);
    expect(failed.attempts).to.equal(1);
    const job = await worker.queues.payments.getJob(await bullJobIdOfRow(tdb.db, id));
    await waitFor(async () => (await job!.getState()) === 'failed', { what: 'job failed' });

    payments.script([{ status: 201 }]);
    await job!.retry();

    const completed = await until(id, 'completed');
    expect(completed).to.include({ failedAt: null, lastError: null, attempts: 2 });
    expect(requestsForOrder(payments, order.id)).to.have.length(2);
  });

  it('when Payments answers 409 for the idempotency key, then the request counts as delivered', async () => {
    payments.script([{ status: 409, body: { error: 'duplicate idempotency_key' } }]);
    const order = orderFacts();
    const id = await insert(paymentRequested(order));

    const row = await until(id, 'completed');

    expect(requestsForOrder(payments, order.id)).to.have.length(1);
    expect(row.failedAt).to.equal(null);
  });

  it('when a notification is retried, then every attempt carries the outbox row’s idempotency key', async () => {
    notifications.script([{ status: 503, times: 2 }, { status: 201 }]);
    const order = orderFacts();
    const id = await insert(notification(order, 'order.created', 'Thanks for your order'));

    const row = await until(id, 'completed');

    const seen = requestsForOrder(notifications, order.id);
    expect(seen).to.have.length(3);
    for (const request of seen) {
      expect(request.body).to.deep.equal({
        message: 'Thanks for your order',
        idempotency_key: row.idempotencyKey,
        order_id: order.id,
        user_id: order.userId,
        event: 'order.created',
      });
    }
  });

  it('when a duplicate job arrives for a completed row, then the peer is not called again', async () => {
    notifications.script([{ status: 201 }]);
    const order = orderFacts();
    const id = await insert(notification(order, 'order.created', 'once'));
    await until(id, 'completed');
    const original = await worker.queues.notifications.getJob(await bullJobIdOfRow(tdb.db, id));

    const duplicate = await worker.queues.notifications.add('order.created', original!.data, {
      jobId: `duplicate-${id}`,
    });
    await waitFor(async () => (await duplicate.getState()) === 'completed', {
      what: 'duplicate job completed',
    });

    expect(requestsForOrder(notifications, order.id)).to.have.length(1);
  });

  it('when a job carries a payload that breaks its contract, then it fails at once without calling the peer', async () => {
    const order = orderFacts();
    const id = await insert(notification(order, 'order.created', 'fine'));
    await until(id, 'completed');
    await tdb.db.update(outbox).set({ completedAt: null }).where(eq(outbox.id, id));
    const before = notifications.requests.length;

    await worker.queues.notifications.add(
      'order.created',
      {
        outboxId: id,
        jobId: (await outboxRow(id)).jobId,
        orderId: order.id,
        idempotencyKey: randomUUID(),
        payload: { event: 1 },
      },
      { jobId: `broken-${id}` },
    );

    const row = await until(id, 'failed');
    expect(row.lastError).to.match(/notifications payload: event must be a string/);
    expect(notifications.requests.length).to.equal(before);
  });

  it('when jobs have run, then the metrics show relay latency, job outcomes, outbox lag and queue depths', async () => {
    payments.script([{ status: 502, times: 1 }, { status: 201 }]);
    const id = await insert(paymentRequested(orderFacts()));
    await until(id, 'completed');

    const text = await metrics.registry.metrics();

    expect(text).to.match(/^outbox_commit_to_enqueue_seconds_count [1-9]/m);
    expect(text).to.match(/^outbox_relayed_total\{queue="payments"\} [1-9]/m);
    expect(text).to.match(
      /^job_duration_seconds_count\{queue="payments",outcome="completed"\} [1-9]/m,
    );
    expect(text).to.match(/^job_failures_total\{queue="payments",kind="retry"\} [1-9]/m);
    expect(text).to.match(/^job_failures_total\{queue="payments",kind="failed"\} [1-9]/m);
    expect(text).to.match(/^outbox_lag_seconds 0$/m);
    expect(text).to.match(/^queue_jobs\{queue="payments",state="failed"\} \d+$/m);
  });

  it('when Notifications answers 429 with Retry-After, then the queue waits that long before trying again, without using up an attempt', async () => {
    notifications.script([{ status: 429, headers: { 'retry-after': '1' } }, { status: 201 }]);
    const order = orderFacts();
    const id = await insert(notification(order, 'order.created', 'slow down'));

    await until(id, 'completed');

    const seen = requestsForOrder(notifications, order.id);
    expect(seen).to.have.length(2);
    expect(seen[1]!.at - seen[0]!.at).to.be.at.least(900);
    const job = await worker.queues.notifications.getJob(await bullJobIdOfRow(tdb.db, id));
    expect(job?.attemptsMade).to.equal(1);
  });

  it('when a queue cannot be told to slow down (inbox, Kafka, webhooks), then its workers run without the limiter and its Redis commands; the peers that answer 429 keep it', () => {
    const limited = Object.fromEntries(
      worker.workers.map((w) => [w.worker.name, w.worker.opts.limiter !== undefined]),
    );
    expect(limited).to.deep.equal({
      payments: true,
      notifications: true,
      refunds: true,
      'payment-checks': true,
      shipping: false,
      inbox: false,
      cancellations: false,
      webhooks: false,
    });
  });
});

describe('outbox processors: a peer outage longer than a few attempts would cover', function () {
  this.timeout(30000);
  // Short stand-ins for the defaults (24 h window, 60 s cap): first delay 10 ms, each delay at
  // most 100 ms, retries for 5 s. A policy of a few attempts (8 from 10 ms, no cap) would give up
  // after about a second.
  const WINDOW_MS = 5000;
  const CAP_MS = 100;
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let payments: RecordingPeer;
  let worker: RunningWorker;
  let metrics: Metrics;

  const outboxRow = (id: number) => outboxRowById(tdb.db, id);

  /** Waits until the row is completed or failed, whichever comes first. */
  async function settled(id: number, timeoutMs = 15000): Promise<OutboxRow> {
    let row: OutboxRow | undefined;
    await waitFor(
      async () => {
        row = await outboxRow(id);
        return row.completedAt !== null || row.failedAt !== null;
      },
      { timeoutMs, what: `outbox row ${id} completed or failed` },
    );
    return row!;
  }

  async function gauge(queue: string): Promise<number | undefined> {
    const text = await metrics.registry.metrics();
    const line = new RegExp(`^outbox_oldest_open_seconds\\{queue="${queue}"\\} (\\S+)$`, 'm');
    const m = line.exec(text);
    return m ? Number(m[1]) : undefined;
  }

  before(async () => {
    tdb = await createTestDatabase('outage');
    redis = createTestRedisPrefix();
    payments = await startRecordingPeer();
    metrics = createMetrics({ defaults: false });
    const config = loadConfig({
      ...workerEnv(tdb, redis, { payments, notifications: payments }),
      PEER_TIMEOUT_MS: '2000',
      JOB_BACKOFF_MS: '10',
      JOB_BACKOFF_MAX_MS: String(CAP_MS),
      JOB_RETRY_WINDOW_MS: String(WINDOW_MS),
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
    worker = await startWorker(config, { database: tdb, metrics, logger: silentLogger() });
  });

  after(async () => {
    await worker?.stop();
    await payments?.close();
    await redis?.flush();
    await tdb?.drop();
  });

  it('when Payments answers 503 more often than the old attempt limit allowed, then the payment goes through once it recovers, with no operator action, and the job keeps few stack traces', async () => {
    payments.script([{ status: 503, times: 12 }, { status: 201 }]);
    const order = orderFacts();
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [paymentRequested(order)]));

    const row = await settled(id!);

    expect(row.failedAt, `failed: ${row.lastError}`).to.equal(null);
    expect(row.completedAt).to.be.instanceOf(Date);
    expect(row.attempts).to.equal(13);
    expect(requestsForOrder(payments, order.id)).to.have.length(13);
    const [job] = (await worker.queues.payments.getJobs(['completed'])).filter(
      (j) => j.data.orderId === order.id,
    );
    expect(job?.stacktrace?.length).to.be.within(1, 10);
  });

  it('when Payments stays down past the retry window, then the job fails for good only after the window, retrying at a bounded pace', async () => {
    payments.script([{ status: 503 }]);
    const order = orderFacts();
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [paymentRequested(order)]));

    const row = await settled(id!);

    expect(row.failedAt).to.be.instanceOf(Date);
    expect(row.lastError).to.match(/answered 503/);
    expect(row.failedAt!.getTime() - row.createdAt.getTime()).to.be.at.least(WINDOW_MS);
    const seen = requestsForOrder(payments, order.id);
    // No hot loop: once the delays reach the cap, at most one try every CAP_MS / 2.
    expect(seen.length).to.be.at.most(Math.ceil(WINDOW_MS / (CAP_MS / 2)) + 10);
    const [job] = (await worker.queues.payments.getJobs(['failed'])).filter(
      (j) => j.data.orderId === order.id,
    );
    expect(job?.failedReason).to.match(/retry window/);
  });

  it('when Payments rejects with 400, then the job fails at once, window or not', async () => {
    payments.script([{ status: 400, body: { error: 'bad amount' } }]);
    const order = orderFacts();
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [paymentRequested(order)]));

    const row = await settled(id!);

    expect(row.failedAt).to.be.instanceOf(Date);
    expect(row.attempts).to.equal(1);
    expect(requestsForOrder(payments, order.id)).to.have.length(1);
  });

  it('while Payments is down, then outbox_oldest_open_seconds shows how long the oldest payments row has waited, and 0 once it recovers', async () => {
    payments.script([{ status: 503 }]);
    const order = orderFacts();
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [paymentRequested(order)]));
    await waitFor(() => requestsForOrder(payments, order.id).length >= 3, {
      what: 'three failed tries',
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));

    expect(await gauge('payments')).to.be.at.least(1);
    expect(await gauge('notifications')).to.equal(0);

    payments.script([{ status: 201 }]);
    const row = await settled(id!);
    expect(row.completedAt).to.be.instanceOf(Date);
    expect(await gauge('payments')).to.equal(0);
  });
});
