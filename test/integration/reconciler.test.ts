import { expect } from 'chai';
import { inArray, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { insertOutboxRows } from '../../db/outbox.js';
import { outbox } from '../../db/schema.js';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { createReconciler } from '../../jobs/reconciler.js';
import { createRelay } from '../../jobs/relay.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import {
  notification,
  paymentRequested,
  type NewOutboxRow,
} from '../../lib/domain/outbox-events.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { bullJobIdOfRow } from '../support/orders.js';
import { startRecordingPeer, waitFor, type RecordingPeer } from '../support/recording-peer.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../support/redis.js';

describe('reconciler', function () {
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let queueSet: QueueSet;
  let payments: RecordingPeer;
  let notifications: RecordingPeer;
  let worker: RunningWorker | undefined;

  function config(env: Record<string, string> = {}) {
    return loadConfig({
      DATABASE_URL: tdb.url,
      REDIS_URL: redis.url,
      BULLMQ_PREFIX: redis.prefix,
      PAYMENTS_SERVICE_API_URL: payments.url,
      NOTIFICATIONS_SERVICE_API_URL: notifications.url,
      JOB_BACKOFF_MS: '5',
      // No shipping jobs here: the worker's producer connects on its first send, never.
      KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9',
      ...env,
    });
  }

  function rows(n: number): NewOutboxRow[] {
    return Array.from({ length: n }, (_, i) => {
      const order = {
        id: randomUUID(),
        userId: 'user-1',
        itemId: randomUUID(),
        quantity: 1,
        amount: '5.00',
        paymentIdempotencyKey: randomUUID(),
      };
      return i % 2 === 0 ? paymentRequested(order) : notification(order, 'order.created', 'hi');
    });
  }

  /** Commits rows and relays them, as the worker would, but with no processor running. */
  async function dispatched(n: number): Promise<number[]> {
    const ids = await tdb.db.transaction((tx) => insertOutboxRows(tx, rows(n)));
    const relay = createRelay({
      db: tdb.db,
      databaseUrl: tdb.url,
      queues: queueSet.queues,
      logger: silentLogger(),
    });
    expect((await relay.drainOnce()).enqueued).to.equal(n);
    return ids;
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
      queues: queueSet.queues,
      logger: silentLogger(),
      afterMs: 60_000,
      everyMs: 60_000,
      batchSize: 7,
    });
  }

  before(async () => {
    tdb = await createTestDatabase('reconciler');
    redis = createTestRedisPrefix();
    payments = await startRecordingPeer();
    notifications = await startRecordingPeer();
    queueSet = createQueues(config(), silentLogger());
  });

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
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

    expect(result).to.deep.equal({ checked: 10, requeued: 0 });
  });

  it('when Redis lost the jobs of open rows, then they are enqueued again under the same ids, once', async () => {
    const ids = await dispatched(10);
    await redis.flush();
    await ageDispatch(ids);
    const r = reconciler();

    const first = await r.runOnce();
    const second = await r.runOnce();

    expect(first).to.deep.equal({ checked: 10, requeued: 10 });
    expect(second).to.deep.equal({ checked: 0, requeued: 0 });
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

    expect(result).to.deep.equal({ checked: 1, requeued: 1 });
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

    expect(result).to.deep.equal({ checked: 1, requeued: 1 });
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
});
