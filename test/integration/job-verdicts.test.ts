import { expect } from 'chai';
import { orderFacts } from '../support/factories.js';
import sinon from 'sinon';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { paymentRequested } from '../../db/outbox/events.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { outboxRowById } from '../support/orders.js';
import { workerEnv } from '../support/api.js';

/**
 * The job runner's verdict on database errors (jobs/outbox/judge-failure.ts, classifyFailure):
 * data Postgres refuses fails the job at once with its reason; Postgres unreachable is retried.
 */
describe('outbox job verdicts on database errors', function () {
  this.timeout(30000);
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let payments: RecordingPeer;
  let worker: RunningWorker;

  before(async () => {
    tdb = await createTestDatabase('verdicts');
    redis = createTestRedisPrefix();
    payments = await startRecordingPeer();
    const config = loadConfig({
      ...workerEnv(tdb, redis, { payments, notifications: payments }),
      PAYMENTS_CALLBACK_URL: 'http://127.0.0.1:1/api/v1/orders/payment-callback',
      JOB_BACKOFF_MS: '5',
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
    worker = await startWorker(config, { database: tdb, logger: silentLogger() });
  });
  afterEach(() => sinon.restore());
  after(async () => {
    await worker?.stop();
    await payments?.close();
    await redis?.flush();
    await tdb?.drop();
  });

  const payment = () => paymentRequested(orderFacts({ amount: '1.00' }));

  const outboxRow = (id: number) => outboxRowById(tdb.db, id);

  /**
   * Makes the job's first statement about row `id` (its state) fail `times` times with what
   * `fail()` rejects with; counts the failures.
   */
  function failStateOf(id: number, fail: () => Promise<unknown>, times = Infinity) {
    const realQuery = tdb.pool.query.bind(tdb.pool) as (...args: unknown[]) => Promise<unknown>;
    const hits = { count: 0 };
    sinon.stub(tdb.pool, 'query').callsFake(((...args: unknown[]) => {
      const config = args[0] as { name?: string; values?: unknown[] } | undefined;
      if (config?.name === 'outbox_state' && config.values?.[0] === id && hits.count < times) {
        hits.count++;
        return fail();
      }
      return realQuery(...args);
    }) as typeof tdb.pool.query);
    return { hits, realQuery };
  }

  it('when Postgres refuses the data a job works with (22xxx), then the job fails at its first attempt with the SQLSTATE in its reason', async () => {
    payments.script([{ status: 201 }]);
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [payment()]));
    // A real refusal from Postgres: a uuid in a form its type does not take.
    const { hits } = failStateOf(id!, () =>
      tdb.pool.query(`select '0190a0a0:0000:7000:8000:000000000002'::uuid`),
    );

    await waitFor(async () => (await outboxRow(id!)).failedAt !== null, {
      timeoutMs: 10000,
      what: 'the job to fail',
    });
    const row = await outboxRow(id!);
    expect(row.attempts).to.equal(1);
    expect(row.lastError).to.match(/invalid input syntax for type uuid/);
    expect(hits.count).to.equal(1);
    const job = (await worker.queues.payments.getFailed()).find((j) => j.data.outboxId === id);
    expect(job?.failedReason).to.match(/^refused by Postgres \(SQLSTATE 22P02\)/);
    expect(payments.requests).to.have.length(0);
  });

  it('when Postgres is unreachable for a job, then it is retried and completes once it answers', async () => {
    payments.script([{ status: 201 }]);
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [payment()]));
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    const { hits } = failStateOf(id!, () => Promise.reject(refused), 2);

    await waitFor(async () => (await outboxRow(id!)).completedAt !== null, {
      timeoutMs: 10000,
      what: 'the job to complete',
    });
    expect(hits.count).to.equal(2);
    expect((await outboxRow(id!)).failedAt).to.equal(null);
  });
});
