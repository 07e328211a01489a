import { expect } from 'chai';
import { orderFacts } from '../support/factories.js';
import { sql } from 'drizzle-orm';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { outbox } from '../../db/schema.js';
import type { OutboxJobData } from '../../jobs/outbox/job-data.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { notification, paymentRequested, type NewOutboxRow } from '../../db/outbox/events.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import {
  requestsForOrder,
  startRecordingPeer,
  type RecordingPeer,
} from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { outboxRowById } from '../support/orders.js';
import { workerEnv } from '../support/api.js';

/**
 * Postgres restored from a backup (or a development database re-created) while Redis keeps its
 * jobs: the outbox's serial ids start again, so new rows get the ids of rows whose jobs Redis
 * still holds. A job must stay the job of the one row it was made for.
 */
describe('jobs after a database restore that reuses outbox ids', function () {
  this.timeout(20000);
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let payments: RecordingPeer;
  let notifications: RecordingPeer;
  let worker: RunningWorker;

  async function insert(rows: NewOutboxRow[]): Promise<number[]> {
    return tdb.db.transaction((tx) => insertOutboxRows(tx, rows));
  }

  const outboxRow = (id: number) => outboxRowById(tdb.db, id);

  /** What a restore from an older backup does to the outbox: rows gone, ids counted from 1. */
  async function restoreDatabase(): Promise<void> {
    await tdb.db.execute(sql`truncate ${outbox} restart identity`);
  }

  async function completed(ids: number[], timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const rows = await Promise.all(ids.map(outboxRow));
        return rows.every((row) => row.completedAt !== null);
      },
      { timeoutMs, what: `outbox rows ${ids.join(', ')} completed` },
    );
  }

  before(async () => {
    tdb = await createTestDatabase('restored');
    payments = await startRecordingPeer();
    notifications = await startRecordingPeer();
  });

  beforeEach(async () => {
    redis = createTestRedisPrefix();
    const config = loadConfig({
      ...workerEnv(tdb, redis, { payments, notifications }),
      JOB_BACKOFF_MS: '5',
      JOB_BACKOFF_MAX_MS: '50',
      // The reconciler's defaults (a row open 60 s, checked every 30 s): it must not be what
      // gets the new rows processed.
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
    worker = await startWorker(config, { database: tdb, logger: silentLogger() });
  });

  afterEach(async () => {
    await worker?.stop();
    await restoreDatabase();
    await redis?.flush();
  });

  after(async () => {
    await payments?.close();
    await notifications?.close();
    await tdb?.drop();
  });

  it('when the database is restored while Redis keeps the finished jobs, then rows that reuse their ids are processed at once', async () => {
    notifications.script([{ status: 201 }]);
    const before = await insert(
      [1, 2, 3].map((i) => notification(orderFacts(), 'order.created', `before ${i}`)),
    );
    await completed(before, 5000);
    expect((await worker.queues.notifications.getJobCounts('completed')).completed).to.equal(3);

    await restoreDatabase();
    const orders = [1, 2, 3].map(() => orderFacts());
    const after = await insert(
      orders.map((o, i) => notification(o, 'order.created', `after ${i}`)),
    );
    expect(after).to.deep.equal(before);

    await completed(after, 3000);
    for (const [i, order] of orders.entries()) {
      const seen = requestsForOrder(notifications, order.id);
      expect(seen, order.id).to.have.length(1);
      expect((seen[0]!.body as { message: string }).message).to.equal(`after ${i}`);
    }
  });

  it('when an old failed job whose id a restored row reuses is retried from Bull Board, then it neither calls the peer with its old payload nor completes the new row', async () => {
    payments.script([{ status: 400, body: { error: 'rejected' } }]);
    const oldOrder = orderFacts();
    const [oldId] = await insert([paymentRequested(oldOrder)]);
    await waitFor(async () => (await outboxRow(oldId!)).failedAt !== null, {
      what: 'the old row failed',
    });
    const [oldJob] = (await worker.queues.payments.getJobs(['failed'])).filter(
      (j) => j.data.orderId === oldOrder.id,
    );
    expect(oldJob, 'the old failed job').to.not.equal(undefined);

    await restoreDatabase();
    payments.script([{ status: 201 }]);
    const newOrder = orderFacts();
    const [newId] = await insert([paymentRequested(newOrder)]);
    expect(newId).to.equal(oldId);
    await waitFor(async () => (await outboxRow(newId!)).dispatchedAt !== null, {
      what: 'the new row dispatched',
    });

    // What Bull Board's retry button does.
    await oldJob!.retry('failed');
    let state: string | undefined;
    await waitFor(
      async () => {
        state = await worker.queues.payments.getJobState(oldJob!.id!);
        return state === 'completed' || state === 'failed';
      },
      { what: 'the retried old job to finish' },
    );
    // Read after it finished: a copy read while it ran would not have its reason yet.
    const retried = await worker.queues.payments.getJob(oldJob!.id!);

    expect(requestsForOrder(payments, oldOrder.id), 'requests with the old payload').to.have.length(
      1,
    );
    expect(state).to.equal('failed');
    expect(retried?.failedReason).to.match(/belongs to another outbox row/);
    // The new row is completed by its own job, which carried its own payload.
    await completed([newId!], 3000);
    expect(requestsForOrder(payments, newOrder.id)).to.have.length(1);
  });
  it('when a job made before outbox rows had job ids runs after the upgrade, then it leaves the row alone, and the reconciler enqueues the row again under its own job id', async () => {
    payments.script([{ status: 201 }]);
    const order = orderFacts();
    const row = paymentRequested(order);
    // A row the previous version dispatched: its job has the old id and the old data.
    const [inserted] = await tdb.db
      .insert(outbox)
      .values({ ...row, dispatchedAt: sql`now() - interval '1 hour'` })
      .returning();
    const legacy = await worker.queues.payments.add(
      row.eventType,
      // The old job data had no jobId: typed as today's, it is what Redis may still hold.
      {
        outboxId: inserted!.id,
        orderId: order.id,
        idempotencyKey: row.idempotencyKey,
        payload: row.payload,
      } as unknown as OutboxJobData,
      { jobId: `outbox-${inserted!.id}`, attempts: 1 },
    );
    await waitFor(async () => (await legacy.getState()) === 'failed', {
      what: 'the legacy job to fail',
    });

    expect((await worker.queues.payments.getJob(legacy.id!))?.failedReason).to.match(
      /belongs to another outbox row/,
    );
    expect(requestsForOrder(payments, order.id)).to.have.length(0);
    expect(await outboxRow(inserted!.id)).to.include({
      attempts: 0,
      lastError: null,
      failedAt: null,
      completedAt: null,
    });

    expect(await worker.reconciler.runOnce()).to.deep.equal({ checked: 1, requeued: 1, rerun: 0 });
    await completed([inserted!.id], 3000);
    expect(requestsForOrder(payments, order.id)).to.have.length(1);
  });
});
