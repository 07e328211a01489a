import { Worker, type Job } from 'bullmq';
import { expect } from 'chai';
import { orderFacts } from '../support/factories.js';
import { eq, inArray, sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import sinon from 'sinon';
import { withClaimedRows } from '../../db/outbox/dispatch.js';
import { insertOutboxRows, markOutboxFailed } from '../../db/outbox/rows.js';
import { outbox } from '../../db/schema.js';
import { createQueues, type QueueSet } from '../../jobs/outbox/queues.js';
import type { OutboxJobData } from '../../jobs/outbox/job-data.js';
import { createReconciler } from '../../jobs/outbox/reconciler.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { notification, paymentRequested, type NewOutboxRow } from '../../db/outbox/events.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { bullJobIdOfRow, commitAndRelay } from '../support/orders.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { workerEnv } from '../support/api.js';

describe('reconciler', function () {
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let queueSet: QueueSet;
  let payments: RecordingPeer;
  let notifications: RecordingPeer;
  let worker: RunningWorker | undefined;

  function config(env: Record<string, string> = {}) {
    return loadConfig({
      ...workerEnv(tdb, redis, { payments, notifications }),
      JOB_BACKOFF_MS: '5',
      ...env,
    });
  }

  function rows(n: number): NewOutboxRow[] {
    return Array.from({ length: n }, (_, i) => {
      const order = orderFacts();
      return i % 2 === 0 ? paymentRequested(order) : notification(order, 'order.created', 'hi');
    });
  }

  /** Commits rows and relays them, as the worker would, but with no processor running. */
  function dispatched(n: number): Promise<number[]> {
    return commitAndRelay(tdb, queueSet.shards, rows(n));
  }

  async function ageDispatch(ids: number[]): Promise<void> {
    await tdb.db
      .update(outbox)
      .set({ dispatchedAt: sql`now() - interval '1 hour'` })
      .where(inArray(outbox.id, ids));
  }

  function reconciler() {
    return createReconciler({
      db: tdb.db,
      queues: queueSet.shards,
      logger: silentLogger(),
      afterMs: 60_000,
      everyMs: 60_000,
      batchSize: 7,
    });
  }

  /**
   * What a worker killed twice while it ran a job leaves: each time a worker took the job and died
   * (here it takes the job and never renews its lock, which lapses after 200 ms), and BullMQ's own
   * stalled check found it. The job is back in `waiting`, marked to fail (BullMQ's deferred
   * failure) as soon as a worker picks it up.
   */
  async function stalledTwice(jobId: string): Promise<void> {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const dying = new Worker<OutboxJobData>('payments', null, {
      connection,
      prefix: redis.prefix,
      autorun: false,
      lockDuration: 200,
      stalledInterval: 50,
    });
    try {
      await dying.startStalledCheckTimer();
      for (const kill of [1, 2]) {
        const job = await dying.getNextJob(`killed-${kill}`, { block: false });
        expect(job?.id).to.equal(jobId);
        await waitFor(
          async () => (await queueSet.queues.payments.getJobState(jobId)) === 'waiting',
          { what: `the job stalled (${kill})`, timeoutMs: 5000, intervalMs: 20 },
        );
      }
    } finally {
      await dying.close();
      connection.disconnect();
    }
  }

  /** stalledTwice, then picked up by a worker: BullMQ fails it without running the processor. */
  async function failedAsStalled(jobId: string): Promise<Job<OutboxJobData>> {
    await stalledTwice(jobId);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const picker = new Worker<OutboxJobData>('payments', null, {
      connection,
      prefix: redis.prefix,
      autorun: false,
    });
    try {
      expect(await picker.getNextJob('picker', { block: false })).to.equal(undefined);
    } finally {
      await picker.close();
      connection.disconnect();
    }
    const job = (await queueSet.queues.payments.getJob(jobId))!;
    expect(await job.getState()).to.equal('failed');
    expect(job.failedReason).to.equal('job stalled more than allowable limit');
    return job;
  }

  const rowOf = async (id: number) =>
    (await tdb.db.select().from(outbox).where(eq(outbox.id, id)))[0]!;

  before(async () => {
    tdb = await createTestDatabase('reconciler');
    redis = createTestRedisPrefix();
    payments = await startRecordingPeer();
    notifications = await startRecordingPeer();
    queueSet = createQueues(config(), silentLogger());
  });

  afterEach(async () => {
    sinon.restore();
    await worker?.stop();
    worker = undefined;
    payments.script([{ status: 201 }]);
    await tdb.db.delete(outbox);
    await redis.flush();
  });

  after(async () => {
    await queueSet?.close();
    await payments?.close();
    await notifications?.close();
    await redis?.flush();
    await tdb?.drop();
  });

  it('when open rows still have their jobs, then nothing is enqueued again', async () => {
    const ids = await dispatched(10);
    await ageDispatch(ids);

    const result = await reconciler().runOnce();

    expect(result).to.deep.equal({ checked: 10, requeued: 0, rerun: 0 });
  });

  it('when Redis lost the jobs of open rows, then they are enqueued again under the same ids, once', async () => {
    const ids = await dispatched(10);
    await redis.flush();
    await ageDispatch(ids);
    const r = reconciler();

    const first = await r.runOnce();
    const second = await r.runOnce();

    expect(first).to.deep.equal({ checked: 10, requeued: 10, rerun: 0 });
    expect(second).to.deep.equal({ checked: 0, requeued: 0, rerun: 0 });
    const jobs = await Promise.all(
      ids.map(async (id, i) =>
        queueSet.queues[i % 2 === 0 ? 'payments' : 'notifications'].getJob(
          await bullJobIdOfRow(tdb.db, id),
        ),
      ),
    );
    expect(jobs.map((j) => j?.data.outboxId)).to.deep.equal(ids);
  });

  it('when a relay dies between its committed claim and addBulk, then its rows stay marked with no job, and the reconciler adds their jobs', async () => {
    const ids = await tdb.db.transaction((tx) => insertOutboxRows(tx, rows(4)));
    // The claim commits as it returns; a relay killed now adds nothing and releases nothing.
    const claimed = await withClaimedRows(tdb.db, 10, async (claimedRows) =>
      claimedRows.map((r) => r.id),
    );
    expect(claimed).to.deep.equal(ids);
    const marked = await tdb.db.select().from(outbox).where(inArray(outbox.id, ids));
    expect(marked.every((r) => r.dispatchedAt !== null)).to.equal(true);
    await ageDispatch(ids);

    const pass = await reconciler().runOnce();

    expect(pass).to.deep.equal({ checked: 4, requeued: 4, rerun: 0 });
    const jobs = await Promise.all(
      ids.map(async (id, i) =>
        queueSet.queues[i % 2 === 0 ? 'payments' : 'notifications'].getJob(
          await bullJobIdOfRow(tdb.db, id),
        ),
      ),
    );
    expect(jobs.map((j) => j?.data.outboxId)).to.deep.equal(ids);
  });

  it('when a flush left a stale job hash in no set, then the row is enqueued again all the same', async () => {
    const [id] = await dispatched(1);
    await redis.flush();
    // What a worker's late write after a flush leaves: part of a job hash, in no queue set.
    const jobId = await bullJobIdOfRow(tdb.db, id!);
    const client = await queueSet.queues.payments.client;
    await client.hset(`${redis.prefix}:payments:${jobId}`, { ats: '1' });
    await ageDispatch([id!]);

    const result = await reconciler().runOnce();

    expect(result).to.deep.equal({ checked: 1, requeued: 1, rerun: 0 });
    expect(await queueSet.queues.payments.getJobState(jobId)).to.equal('waiting');
  });

  it('when the job under a row’s job id carries another row’s data (one a restored database left), then it is not the row’s job: the row is enqueued again', async () => {
    const [id] = await dispatched(1);
    const [job] = await queueSet.queues.payments.getJobs(['waiting']);
    expect(job?.data.outboxId).to.equal(id);
    const other = randomUUID();
    const foreign = {
      ...job!.data,
      jobId: randomUUID(),
      orderId: other,
      idempotencyKey: other,
      payload: { order_id: other, amount: '9.00', idempotency_key: other },
    };
    await job!.remove();
    await queueSet.queues.payments.add(job!.name, foreign, { jobId: job!.id });
    await ageDispatch([id!]);

    const result = await reconciler().runOnce();

    expect(result).to.deep.equal({ checked: 1, requeued: 1, rerun: 0 });
    const now = await queueSet.queues.payments.getJob(job!.id!);
    expect(now?.data).to.deep.equal(job!.data);
  });

  it('when Redis is flushed after dispatch, then the running worker’s reconciler puts the jobs back and every row completes', async () => {
    const ids = await dispatched(20);
    await redis.flush();

    worker = await startWorker(config({ RECONCILE_AFTER_MS: '100', RECONCILE_EVERY_MS: '50' }), {
      database: tdb,
      logger: silentLogger(),
    });

    await waitFor(
      async () => {
        const [row] = await tdb.db
          .select({ n: sql<number>`count(*)::int` })
          .from(outbox)
          .where(sql`${outbox.completedAt} is not null`);
        return row!.n === ids.length;
      },
      { what: 'every row completed', timeoutMs: 5000 },
    );
    const keys = [...payments.requests, ...notifications.requests].map(
      (r) => (r.body as { idempotency_key: string }).idempotency_key,
    );
    expect(keys).to.have.length(20);
    expect(new Set(keys).size).to.equal(20);
  });

  it('when BullMQ failed a job as stalled too often (its worker killed twice mid-job) and its row is open, then the job is run again under its id, keeping its data and when it was added', async () => {
    const [id] = await dispatched(1);
    const jobId = await bullJobIdOfRow(tdb.db, id!);
    const failed = await failedAsStalled(jobId);
    await ageDispatch([id!]);
    const r = reconciler();

    const first = await r.runOnce();
    const second = await r.runOnce();

    expect(first).to.deep.equal({ checked: 1, requeued: 0, rerun: 1 });
    expect(second, 'the re-run row’s clock restarted').to.deep.equal({
      checked: 0,
      requeued: 0,
      rerun: 0,
    });
    const job = (await queueSet.queues.payments.getJob(jobId))!;
    expect(await job.getState()).to.equal('waiting');
    expect(job.data).to.deep.equal(failed.data);
    expect(job.timestamp, 'the retry window still counts from the first add').to.equal(
      failed.timestamp,
    );
  });

  it('when the runner judges a row failed after the reconciler read it open but before it saw its job failed, then the failed job is left to ops', async () => {
    const [id] = await dispatched(1);
    const jobId = await bullJobIdOfRow(tdb.db, id!);
    await failedAsStalled(jobId);
    await ageDispatch([id!]);
    const { jobId: rowJobId } = await rowOf(id!);
    const queue = queueSet.queues.payments;
    const getJobState = queue.getJobState.bind(queue);
    // Forces the interleaving: the verdict is written between the two reads.
    sinon.stub(queue, 'getJobState').callsFake(async (jid: string) => {
      await markOutboxFailed(tdb.db, { id: id!, jobId: rowJobId }, 'Payments answered 400');
      return getJobState(jid);
    });

    const result = await reconciler().runOnce();

    expect(result).to.deep.equal({ checked: 1, requeued: 0, rerun: 0 });
    sinon.restore();
    expect(await queue.getJobState(jobId)).to.equal('failed');
  });

  it('when a worker picks up a job BullMQ marked as stalled too often, then it runs it again at once and the row completes, with no reconciler pass', async () => {
    const [id] = await dispatched(1);
    const jobId = await bullJobIdOfRow(tdb.db, id!);
    await stalledTwice(jobId);
    const asked = payments.requests.length;

    worker = await startWorker(config({ RECONCILE_EVERY_MS: '3600000' }), {
      database: tdb,
      logger: silentLogger(),
    });

    await waitFor(async () => (await rowOf(id!)).completedAt !== null, {
      what: 'the row completed',
      timeoutMs: 10000,
    });
    expect(payments.requests.length - asked).to.equal(1);
    const job = (await queueSet.queues.payments.getJob(jobId))!;
    expect(job.stalledCounter).to.equal(2);
    expect(await job.getState()).to.equal('completed');
  });

  it('when ops clear failed_at on a row whose job failed for good, then the reconciler runs the job again and the row completes', async () => {
    payments.script([{ status: 400, body: { detail: 'no such card' }, times: 1 }, { status: 201 }]);
    const asked = payments.requests.length;
    const [id] = await dispatched(1);
    const jobId = await bullJobIdOfRow(tdb.db, id!);
    worker = await startWorker(config({ RECONCILE_EVERY_MS: '3600000' }), {
      database: tdb,
      logger: silentLogger(),
    });
    await waitFor(async () => (await rowOf(id!)).failedAt !== null, { what: 'the row failed' });
    expect(await queueSet.queues.payments.getJobState(jobId)).to.equal('failed');
    await ageDispatch([id!]);
    expect(await reconciler().runOnce(), 'a judged row is ops’ business').to.deep.equal({
      checked: 0,
      requeued: 0,
      rerun: 0,
    });

    await tdb.db.update(outbox).set({ failedAt: null }).where(eq(outbox.id, id!));
    const result = await reconciler().runOnce();

    expect(result).to.deep.equal({ checked: 1, requeued: 0, rerun: 1 });
    await waitFor(async () => (await rowOf(id!)).completedAt !== null, {
      what: 'the row completed',
    });
    const keys = payments.requests
      .slice(asked)
      .map((r) => (r.body as { idempotency_key: string }).idempotency_key);
    expect(keys).to.have.length(2);
    expect(new Set(keys).size, 'one payment, asked twice').to.equal(1);
  });

  it('when the row could not be marked failed as its job failed for good, then the reconciler runs the job again and the row gets its verdict', async () => {
    payments.script([{ status: 400, body: { detail: 'no such card' } }]);
    const asked = payments.requests.length;
    // Postgres refuses the verdict (a real refusal, from a trigger) until the trigger is dropped.
    await tdb.pool.query(`
      create function refuse_failed_at() returns trigger language plpgsql as
        $$ begin raise exception 'refused for the test'; end $$;
      create trigger refuse_failed_at before update of failed_at on outbox
        for each row when (new.failed_at is not null) execute function refuse_failed_at()`);
    try {
      const [id] = await dispatched(1);
      const jobId = await bullJobIdOfRow(tdb.db, id!);
      worker = await startWorker(config({ RECONCILE_EVERY_MS: '3600000' }), {
        database: tdb,
        logger: silentLogger(),
      });
      await waitFor(async () => (await queueSet.queues.payments.getJobState(jobId)) === 'failed', {
        what: 'the job failed for good',
      });
      expect((await rowOf(id!)).failedAt, 'the verdict was refused').to.equal(null);
      await tdb.pool.query('drop trigger refuse_failed_at on outbox');
      await ageDispatch([id!]);

      const result = await reconciler().runOnce();

      expect(result).to.deep.equal({ checked: 1, requeued: 0, rerun: 1 });
      await waitFor(async () => (await rowOf(id!)).failedAt !== null, {
        what: 'the row judged failed',
      });
      expect(payments.requests.length - asked).to.equal(2);
    } finally {
      await tdb.pool.query('drop trigger if exists refuse_failed_at on outbox');
      await tdb.pool.query('drop function if exists refuse_failed_at');
    }
  });
});
