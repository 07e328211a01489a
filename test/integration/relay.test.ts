import { expect } from 'chai';
import { orderFacts } from '../support/factories.js';
import { asc, eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import sinon from 'sinon';
import { withClaimedRows } from '../../db/outbox/dispatch.js';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { enqueueRows } from '../../jobs/outbox/enqueue.js';
import { outbox } from '../../db/schema.js';
import { createQueues, retryPolicyOf, type QueueSet } from '../../jobs/outbox/queues.js';
import { createRelay, type Relay, type RelayOptions } from '../../jobs/outbox/relay.js';
import { attemptsToCover, BACKOFF_TYPE } from '../../jobs/outbox/retry-policy.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import {
  notification,
  paymentCheck,
  paymentRequested,
  type NewOutboxRow,
  type QueueName,
} from '../../db/outbox/events.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { bullJobIdOfRow, outboxRowById } from '../support/orders.js';
import { createMetrics } from '../../lib/platform/metrics.js';
import { registerStateGauges } from '../../db/state-gauges.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { freePort } from '../../scripts/testkit/ports.js';

function notificationRows(n: number): NewOutboxRow[] {
  return Array.from({ length: n }, (_, i) => notification(orderFacts(), 'order.created', `#${i}`));
}

describe('outbox relay', function () {
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let queueSet: QueueSet;
  const toStop: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [];

  function queueConfig(redisUrl = redis.url) {
    return loadConfig({ REDIS_URL: redisUrl, BULLMQ_PREFIX: redis.prefix });
  }

  function relay(overrides: Partial<RelayOptions> = {}): Relay {
    const r = createRelay({
      db: tdb.db,
      databaseUrl: tdb.url,
      queues: queueSet.shards,
      logger: silentLogger(),
      batchSize: 100,
      // Long, so the tests below see the NOTIFY path, not the poll.
      pollMs: 60_000,
      ...overrides,
    });
    toStop.push(r);
    return r;
  }

  async function insert(rows: NewOutboxRow[]): Promise<number[]> {
    return tdb.db.transaction((tx) => insertOutboxRows(tx, rows));
  }

  /** The notifications queue's first addBulk waits until `release` is called; the rest go through. */
  function holdFirstAddBulk() {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const addBulk = sinon.stub(queueSet.queues.notifications, 'addBulk').callThrough();
    addBulk.onCall(0).callsFake(async (jobs) => {
      await gate;
      return addBulk.wrappedMethod.call(queueSet.queues.notifications, jobs);
    });
    return { addBulk, release };
  }

  async function undispatchedCount(): Promise<number> {
    const [row] = await tdb.db
      .select({ n: sql<number>`count(*)::int` })
      .from(outbox)
      .where(sql`${outbox.dispatchedAt} is null and ${outbox.failedAt} is null`);
    return row!.n;
  }

  before(async () => {
    tdb = await createTestDatabase('relay');
    redis = createTestRedisPrefix();
    queueSet = createQueues(queueConfig(), silentLogger());
  });

  afterEach(async () => {
    sinon.restore();
    while (toStop.length) {
      const s = toStop.pop()!;
      await ('stop' in s ? s.stop() : s.close());
    }
    await tdb.db.delete(outbox);
    await redis.flush();
  });

  after(async () => {
    await queueSet?.close();
    await redis?.flush();
    await tdb?.drop();
  });

  it('when rows are committed, then the running relay enqueues them at once as outbox-<job uuid> jobs carrying the row, and marks them dispatched', async () => {
    const r = relay();
    await r.start();
    const order = orderFacts();
    const [paymentId, notificationId] = await insert([
      paymentRequested(order),
      notification(order, 'order.created', 'Thanks for your order'),
    ]);

    await waitFor(async () => (await undispatchedCount()) === 0, { what: 'rows dispatched' });

    const [paymentRow] = await tdb.db.select().from(outbox).where(eq(outbox.id, paymentId!));
    const payment = await queueSet.queues.payments.getJob(`outbox-${paymentRow!.jobId}`);
    expect(payment?.id).to.match(
      /^outbox-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect(payment?.name).to.equal('payment.requested');
    expect(payment?.data).to.deep.equal({
      outboxId: paymentId,
      jobId: paymentRow!.jobId,
      orderId: order.id,
      idempotencyKey: order.paymentIdempotencyKey,
      payload: {
        order_id: order.id,
        amount: '5.00',
        idempotency_key: order.paymentIdempotencyKey,
      },
    });
    // Retried with the capped backoff for the whole 24 h window, not a handful of attempts.
    expect(payment?.opts.backoff).to.deep.include({ type: BACKOFF_TYPE });
    expect(payment?.opts.attempts).to.equal(attemptsToCover(retryPolicyOf(queueConfig().jobs)));
    expect(payment?.opts.attempts).to.be.above(2000);
    const note = await queueSet.queues.notifications.getJob(
      await bullJobIdOfRow(tdb.db, notificationId!),
    );
    expect(note?.data.payload).to.include({ event: 'order.created', order_id: order.id });
    const rows = await tdb.db.select().from(outbox).orderBy(asc(outbox.id));
    expect(rows.every((row) => row.dispatchedAt !== null && row.failedAt === null)).to.equal(true);
  });

  it('when a row is written to run later (a payment check), then it waits in Postgres, undispatched and not in Redis, and the relay wakes when it falls due and enqueues it to run at once', async () => {
    // The poll is a minute away: only the claim's word on when the row falls due can wake it.
    const r = relay();
    await r.start();
    const [id] = await insert([paymentCheck(randomUUID(), 1, 1500)]);
    const jobId = await bullJobIdOfRow(tdb.db, id!);
    const checks = queueSet.queues['payment-checks'];

    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await outboxRowById(tdb.db, id!)).dispatchedAt).to.equal(null);
    expect(await checks.getJob(jobId)).to.equal(undefined);

    await waitFor(async () => (await undispatchedCount()) === 0, {
      what: 'the check dispatched once due',
      timeoutMs: 5000,
    });
    const row = await outboxRowById(tdb.db, id!);
    const lateMs = row.dispatchedAt!.getTime() - row.runAfter!.getTime();
    expect(lateMs).to.be.within(0, 1000);
    const job = await checks.getJob(jobId);
    expect(await job!.getState()).to.equal('waiting');
    expect(job!.opts.delay ?? 0).to.equal(0);
  });

  it('when rows to run later are due further off than the next poll, then the poll claims them once due', async () => {
    const r = relay({ pollMs: 200 });
    await r.start();
    const [id] = await insert([paymentCheck(randomUUID(), 1, 1000)]);

    await waitFor(async () => (await undispatchedCount()) === 0, {
      what: 'the check dispatched once due',
      timeoutMs: 5000,
    });
    const row = await outboxRowById(tdb.db, id!);
    expect(row.dispatchedAt!.getTime()).to.be.at.least(row.runAfter!.getTime());
  });

  it('when rows to run later wait among rows due now, then a drain takes every due row, batch after batch in id order, and leaves the rest', async () => {
    const addBulk = sinon.spy(queueSet.queues.notifications, 'addBulk');
    const checksAdd = sinon.spy(queueSet.queues['payment-checks'], 'addBulk');
    const later: number[] = [];
    const due: number[] = [];
    for (let i = 0; i < 4; i++) {
      later.push(...(await insert([paymentCheck(randomUUID(), 1, 600_000)])));
      due.push(...(await insert(notificationRows(2))));
      // Written to run after no wait at all: due as soon as it is committed.
      due.push(...(await insert([paymentCheck(randomUUID(), 1, 0)])));
    }

    const result = await relay({ batchSize: 5 }).drainOnce();

    expect(result).to.deep.equal({ enqueued: 12, rejected: 0 });
    const rows = await tdb.db.select().from(outbox).orderBy(asc(outbox.id));
    expect(rows.filter((r) => r.dispatchedAt !== null).map((r) => r.id)).to.deep.equal(due);
    expect(rows.filter((r) => r.dispatchedAt === null).map((r) => r.id)).to.deep.equal(later);
    // Five a batch, the first five due rows by id first (two notifications, a check, two more).
    const first = [...addBulk.firstCall.args[0], ...checksAdd.firstCall.args[0]].map(
      (job) => job.data.outboxId,
    );
    expect(first.sort((x, y) => x - y)).to.deep.equal(due.slice(0, 5));
  });

  it('when a row to run later is completed before it falls due (its order left `new`), then it is never claimed', async () => {
    const [id] = await insert([paymentCheck(randomUUID(), 1, 0)]);
    await tdb.db
      .update(outbox)
      .set({ completedAt: sql`now()` })
      .where(eq(outbox.id, id!));

    const result = await relay().drainOnce();

    expect(result.enqueued).to.equal(0);
    expect((await outboxRowById(tdb.db, id!)).dispatchedAt).to.equal(null);
    expect(
      await queueSet.queues['payment-checks'].getJob(await bullJobIdOfRow(tdb.db, id!)),
    ).to.equal(undefined);
  });

  it('when rows wait to run later, then outbox_lag_seconds leaves them out, and counts a row that fell due from when it did', async () => {
    const metrics = createMetrics({ defaults: false });
    registerStateGauges(metrics, tdb.db, { shippingAnswerAlertAfterMs: 60_000 });
    const lag = async () =>
      Number(/^outbox_lag_seconds (\S+)$/m.exec(await metrics.registry.metrics())![1]);
    // A check written ten minutes ago to run in another ten: not late.
    await tdb.pool.query(
      `insert into outbox (queue, event_type, order_id, idempotency_key, payload, created_at, run_after)
       values ('payment-checks', 'payment.check', $1, $2, $3, now() - interval '10 minutes', now() + interval '10 minutes')`,
      [randomUUID(), randomUUID(), { order_id: randomUUID(), attempt: 1 }],
    );
    expect(await lag()).to.equal(0);

    // One written ten minutes ago that fell due 30 s ago and is still in Postgres: 30 s late.
    await tdb.pool.query(
      `insert into outbox (queue, event_type, order_id, idempotency_key, payload, created_at, run_after)
       values ('payment-checks', 'payment.check', $1, $2, $3, now() - interval '10 minutes', now() - interval '30 seconds')`,
      [randomUUID(), randomUUID(), { order_id: randomUUID(), attempt: 1 }],
    );
    expect(await lag()).to.be.within(30, 40);
  });

  it('when two relays race over 2,000 rows, then each row is enqueued exactly once', async () => {
    const otherSet = createQueues(queueConfig(), silentLogger());
    toStop.push(otherSet);
    const spies = [queueSet, otherSet].flatMap((set) =>
      Object.values(set.queues).map((q) => sinon.spy(q, 'addBulk')),
    );
    const ids = await insert(notificationRows(2000));
    const first = relay();
    const second = relay({ queues: otherSet.shards });

    const results = await Promise.all([first.drainOnce(), second.drainOnce()]);

    expect(results[0].enqueued + results[1].enqueued).to.equal(2000);
    const added = spies.flatMap((spy) =>
      spy.getCalls().flatMap((call) => call.args[0].map((job) => job.opts?.jobId)),
    );
    expect(added).to.have.length(2000);
    expect(new Set(added).size).to.equal(2000);
    const expected = await Promise.all(ids.map((id) => bullJobIdOfRow(tdb.db, id)));
    expect(new Set(added)).to.deep.equal(new Set(expected));
    const counts = await queueSet.queues.notifications.getJobCounts('waiting');
    expect(counts.waiting).to.equal(2000);
    expect(await undispatchedCount()).to.equal(0);
  });

  it('when a row names an unknown queue or breaks its payload contract, then it is marked failed and the rows behind it still go', async () => {
    const order = orderFacts();
    const [before, unknown, broken, behind] = await insert([
      notification(order, 'order.created', 'first'),
      { ...notification(order, 'order.created', 'lost'), queue: 'nope' as QueueName },
      { ...paymentRequested(order), payload: { order_id: order.id } },
      notification(order, 'order.created', 'behind'),
    ]);

    const result = await relay().drainOnce();

    expect(result).to.deep.equal({ enqueued: 2, rejected: 2 });
    const rows = await tdb.db.select().from(outbox).orderBy(asc(outbox.id));
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(unknown!)?.failedAt).to.be.instanceOf(Date);
    expect(byId.get(unknown!)?.lastError).to.equal('unknown queue "nope"');
    expect(byId.get(unknown!)?.dispatchedAt).to.equal(null);
    expect(byId.get(broken!)?.lastError).to.match(/payments payload: amount must be a string/);
    expect(byId.get(before!)?.dispatchedAt).to.be.instanceOf(Date);
    expect(byId.get(behind!)?.dispatchedAt).to.be.instanceOf(Date);
    expect(
      await queueSet.queues.notifications.getJob(await bullJobIdOfRow(tdb.db, behind!)),
    ).to.not.equal(undefined);
    expect(await relay().drainOnce()).to.deep.equal({ enqueued: 0, rejected: 0 });
  });

  it('when Redis cannot be reached, then the batch releases its rows and nothing stays marked dispatched', async () => {
    const deadRedis = createQueues(
      queueConfig(`redis://127.0.0.1:${await freePort()}`),
      silentLogger(),
    );
    toStop.push(deadRedis);
    await insert(notificationRows(3));

    const failing = relay({ queues: deadRedis.shards, enqueueTimeoutMs: 300 });
    let error: unknown;
    await failing.drainOnce().catch((err: unknown) => (error = err));

    expect(error).to.be.instanceOf(Error);
    expect(await undispatchedCount()).to.equal(3);
  });

  it('when addBulk fails, then the relay releases the rows, waits, retries, and dispatches once Redis answers', async () => {
    const addBulk = sinon.stub(queueSet.queues.notifications, 'addBulk').callThrough();
    addBulk.onCall(0).rejects(new Error('Connection is closed.'));
    addBulk.onCall(1).rejects(new Error('Connection is closed.'));
    const ids = await insert(notificationRows(5));

    const r = relay({ retryMinMs: 20 });
    const firstTry = await r.drainOnce().then(
      () => 'dispatched',
      (err: Error) => err.message,
    );
    expect(firstTry).to.equal('Connection is closed.');
    expect(await undispatchedCount()).to.equal(5);
    await r.start();

    // A claim commits before its addBulk, so the rows look dispatched for a moment even in a
    // batch that then fails and releases them: wait for the third addBulk, the one that succeeds.
    await waitFor(async () => addBulk.callCount === 3 && (await undispatchedCount()) === 0, {
      what: 'rows dispatched',
    });
    expect(addBulk.callCount).to.equal(3);
    const jobs = await Promise.all(
      ids.map(async (id) => queueSet.queues.notifications.getJob(await bullJobIdOfRow(tdb.db, id))),
    );
    expect(jobs.every(Boolean)).to.equal(true);
  });

  it('when a drain fails with a bug, then its rows are released, not retried, and onFatal is told', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'opts')");
    const addBulk = sinon.stub(queueSet.queues.notifications, 'addBulk').rejects(bug);
    await insert(notificationRows(2));
    let fatal!: (err: Error) => void;
    const fatalCalled = new Promise<Error>((resolve) => (fatal = resolve));

    const r = relay({ retryMinMs: 1, retryMaxMs: 1, onFatal: (err) => fatal(err) });
    await r.start();

    expect(await fatalCalled).to.equal(bug);
    await r.stop();
    expect(addBulk.callCount, 'tried once, not retried').to.equal(1);
    expect(await undispatchedCount()).to.equal(2);
  });

  it('when the LISTEN connection is killed, then the relay reconnects and dispatches rows committed meanwhile', async () => {
    const r = relay();
    await r.start();
    await tdb.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where datname = current_database() and application_name = 'order-service-relay'`,
    );
    const [id] = await insert(notificationRows(1));

    await waitFor(async () => (await undispatchedCount()) === 0, {
      what: 'row dispatched after reconnect',
      timeoutMs: 3000,
    });
    const [row] = await tdb.db.select().from(outbox).where(eq(outbox.id, id!));
    expect(row?.dispatchedAt).to.be.instanceOf(Date);
  });

  it('when a batch is claimed, then the claim is committed before addBulk (no transaction held open across Redis) and one round trip', async () => {
    const { addBulk, release } = holdFirstAddBulk();
    const [id] = await insert(notificationRows(1));
    const query = sinon.spy(tdb.pool, 'query');

    const drained = relay().drainOnce();
    await waitFor(() => addBulk.callCount === 1, { what: 'drain waiting in addBulk' });
    const claimTrips = query.callCount;
    // Another session sees the mark while the rows are still on their way to Redis.
    const seen = await tdb.pool.query<{ dispatched: boolean }>(
      'select dispatched_at is not null as dispatched from outbox where id = $1',
      [id],
    );
    release();
    await drained;

    expect(claimTrips).to.equal(1);
    expect(seen.rows[0]!.dispatched).to.equal(true);
  });

  it('when a batch fails and releasing its rows fails too, then the caller is told which rows stay marked dispatched for the reconciler', async () => {
    sinon
      .stub(queueSet.queues.notifications, 'addBulk')
      .rejects(new Error('Connection is closed.'));
    const ids = await insert(notificationRows(2));
    const query = sinon.stub(tdb.pool, 'query').callThrough();
    query
      .withArgs(sinon.match({ name: 'outbox_claim_release' }))
      .rejects(new Error('Connection terminated unexpectedly'));
    const told: Array<{ err: unknown; ids: number[] }> = [];

    const error = await withClaimedRows(
      tdb.db,
      10,
      async (rows) => {
        await enqueueRows(queueSet.shards, rows, 1000);
      },
      (err, released) => told.push({ err, ids: released }),
    ).then(
      () => undefined,
      (err: Error) => err.message,
    );
    query.restore();

    expect(error, "the batch's own error").to.equal('Connection is closed.');
    expect(told).to.have.length(1);
    expect(told[0]!.ids).to.deep.equal(ids);
    expect((told[0]!.err as Error).message).to.equal('Connection terminated unexpectedly');
    expect(await undispatchedCount()).to.equal(0);
  });

  it('when notifications arrive while a drain runs, then they are coalesced into one more drain', async () => {
    const { addBulk, release } = holdFirstAddBulk();
    // Each drain's claim is one statement; a handle db/client.ts did not make sends it through
    // drizzle's execute, which counts the claims.
    let claims = 0;
    const countingDb = new Proxy(tdb.db, {
      get(target, prop, receiver) {
        if (prop === 'execute') claims += 1;
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const r = relay({ db: countingDb });
    await r.start();
    await insert(notificationRows(1));
    await waitFor(() => addBulk.callCount === 1, { what: 'first drain blocked in addBulk' });
    const before = claims;

    // Twenty wake-ups while that drain is stuck; a listener of our own tells when they are out.
    const probe = await tdb.pool.connect();
    let heard = 0;
    probe.on('notification', () => (heard += 1));
    await probe.query('LISTEN outbox_new');
    for (let i = 0; i < 20; i++) await tdb.pool.query(`select pg_notify('outbox_new', '')`);
    await waitFor(() => heard === 20, { what: 'notifications delivered' });
    release();
    await waitFor(async () => (await undispatchedCount()) === 0, { what: 'row dispatched' });
    await probe.query('UNLISTEN *');
    probe.release();
    await r.stop();

    expect(claims - before).to.be.within(1, 3);
  });

  it('when rows are relayed, then onEnqueued reports each row with its queue and commit-to-enqueue latency', async () => {
    const seen: Array<{ queue: QueueName; lagMs: number }> = [];
    const r = relay({ onEnqueued: (e) => seen.push(e) });
    const order = orderFacts();
    await insert([paymentRequested(order), notification(order, 'order.created', 'hi')]);

    await r.drainOnce();

    expect(seen.map((e) => e.queue).sort()).to.deep.equal(['notifications', 'payments']);
    expect(seen.every((e) => e.lagMs >= 0 && e.lagMs < 5000)).to.equal(true);
  });
});
