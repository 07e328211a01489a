import { expect } from 'chai';
import { eq } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import sinon from 'sinon';
import { outbox } from '../../db/schema.js';
import type { OutboxJobData } from '../../jobs/outbox/job-data.js';
import { createQueues, type QueueSet } from '../../jobs/outbox/queues.js';
import { createRelay } from '../../jobs/outbox/relay.js';
import {
  createOutboxJobRunner,
  type JobOutcome,
  type OutboxJob,
} from '../../jobs/outbox/run-job.js';
import { inboxProcessor } from '../../jobs/processors/inbox.js';
import { loadConfig } from '../../lib/platform/config.js';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase } from '../../scripts/testkit/database.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { storesEnv } from '../support/api.js';
import {
  bullJobIdOfRow,
  inboxRowById,
  insertInboxEvent,
  insertOrder,
  orderAfterEvents,
  outboxRowById,
} from '../support/orders.js';
import { startedForSuite } from '../support/suite.js';

/**
 * The `inbox` job as its BullMQ worker runs it (jobs/outbox/run-job.ts with the inbox processor),
 * on a job the relay made: what one applied event costs in Postgres round trips, and that the job
 * keeps the runner's promises (a done row skips, another job's row is left alone) without the
 * runner reading the row first.
 */
describe('the inbox job in the job runner', function () {
  const tdb = startedForSuite(
    () => createTestDatabase('inbox_job'),
    (d) => d.drop(),
  );
  let redis: TestRedisPrefix;
  let queueSet: QueueSet;
  const outcomes: JobOutcome[] = [];
  const logLines: Record<string, unknown>[] = [];

  before(() => {
    redis = createTestRedisPrefix();
    queueSet = createQueues(loadConfig({ ...storesEnv(tdb, redis) }), silentLogger());
  });

  afterEach(() => {
    sinon.restore();
    outcomes.length = 0;
    logLines.length = 0;
  });

  after(async () => {
    await queueSet?.close();
    await redis?.flush();
  });

  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });

  /** The runner a BullMQ worker of the inbox queue runs each job with. */
  function runner() {
    return createOutboxJobRunner(
      {
        db: tdb.db,
        logger: createLogger({ name: 'test-inbox-job', level: 'debug', out }),
        rateLimit: () => Promise.resolve(),
        retryWindowMs: 60_000,
        onOutcome: ({ outcome }) => outcomes.push(outcome),
      },
      inboxProcessor(tdb.db),
    );
  }

  /** An order, a payment result taken in for it, and the job the relay made of its inbox row. */
  async function paymentSucceededJob() {
    const order = await insertOrder(tdb.db);
    const { inboxRow, outboxId } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
    });
    const relay = createRelay({
      db: tdb.db,
      databaseUrl: tdb.url,
      queues: queueSet.shards,
      logger: silentLogger(),
    });
    // Also relays the follow-ups of earlier tests' events: no worker takes them.
    await relay.drainOnce();
    const job = await queueSet.queues.inbox.getJob(await bullJobIdOfRow(tdb.db, outboxId));
    expect(job, 'the inbox job').to.not.equal(undefined);
    return { order, inboxRow, outboxId, job: job as OutboxJob };
  }

  /** Every statement node-postgres sends (one round trip each) while `work` runs. */
  async function roundTrips(work: () => Promise<unknown>): Promise<string[]> {
    const query = sinon.spy(pg.Client.prototype, 'query');
    try {
      await work();
    } finally {
      query.restore();
    }
    return query.getCalls().map((call) => {
      const [config] = call.args as unknown[];
      if (typeof config === 'string') return config.replace(/\s+/g, ' ').slice(0, 60);
      const { name, text } = config as { name?: string; text?: string };
      return name ?? (text ?? '').replace(/\s+/g, ' ').slice(0, 60);
    });
  }

  it('when an inbox job applies its event, then it takes 3 Postgres round trips: BEGIN with the locks and its row, one statement for the transition, the inbox row and its job row, and COMMIT', async () => {
    const { order, inboxRow: event, outboxId, job } = await paymentSucceededJob();
    const run = runner();

    const statements = await roundTrips(() => run(job));

    expect(statements, statements.join('\n')).to.have.length(3);
    expect(outcomes).to.deep.equal(['completed']);
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.order.status).to.equal('paid');
    expect(after.history.map((h) => h.status)).to.deep.equal(['paid']);
    expect(after.followUps.map((r) => r.queue)).to.deep.equal(['notifications', 'shipping']);
    expect(await inboxRowById(tdb.db, event.id)).to.include({ result: 'applied' });
    expect((await inboxRowById(tdb.db, event.id)).processedAt).to.be.instanceOf(Date);
    const row = await outboxRowById(tdb.db, outboxId);
    expect(row.completedAt).to.be.instanceOf(Date);
    expect(row.attempts).to.equal(1);
  });

  it('when the job runs again after its row was completed, then it applies nothing and ends skipped', async () => {
    const { order, outboxId, job } = await paymentSucceededJob();
    const run = runner();
    await run(job);
    const done = await outboxRowById(tdb.db, outboxId);

    const statements = await roundTrips(() => run(job));

    expect(outcomes).to.deep.equal(['completed', 'skipped']);
    // BEGIN with the locks and the row's state, then COMMIT of nothing written.
    expect(statements, statements.join('\n')).to.have.length(2);
    expect(logLines.map((l) => l.msg)).to.include('outbox row already completed; job skipped');
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.history).to.have.length(1);
    expect(after.followUps).to.have.length(2);
    expect(await outboxRowById(tdb.db, outboxId)).to.deep.equal(done);
  });

  it('when the same job runs twice at once, then the event is applied once and its row completed once', async () => {
    const { order, inboxRow: event, outboxId, job } = await paymentSucceededJob();
    const run = runner();

    await Promise.all([run(job), run(job)]);

    // The second run either waited for the first's lock (then found the event processed) or
    // read the row completed: nothing failed either way.
    expect(outcomes).to.have.length(2);
    expect(
      outcomes.every((o) => o === 'completed' || o === 'skipped'),
      outcomes.join(),
    ).to.equal(true);
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.history).to.have.length(1);
    expect(after.followUps).to.have.length(2);
    expect(await inboxRowById(tdb.db, event.id)).to.include({ result: 'applied' });
    expect((await outboxRowById(tdb.db, outboxId)).attempts).to.equal(1);
  });

  it('when the job is not its row’s job (a restored database gave the row another job id), then it fails as a foreign job and writes nothing', async () => {
    const { order, inboxRow: event, outboxId, job } = await paymentSucceededJob();
    await tdb.db.update(outbox).set({ jobId: randomUUID() }).where(eq(outbox.id, outboxId));
    const before = await outboxRowById(tdb.db, outboxId);

    let thrown: unknown;
    await runner()(job).catch((err: unknown) => (thrown = err));

    expect((thrown as Error | undefined)?.message).to.match(/belongs to another outbox row/);
    expect(outcomes).to.deep.equal(['failed']);
    expect(await outboxRowById(tdb.db, outboxId)).to.deep.equal(before);
    expect((await inboxRowById(tdb.db, event.id)).processedAt).to.equal(null);
    const after = await orderAfterEvents(tdb.db, order.id);
    expect(after.order.status).to.equal('new');
    expect(after.history).to.have.length(0);
    expect(after.followUps).to.have.length(0);
  });

  it('when the job’s outbox row is gone (retention deletes only completed rows), then it is skipped and applies nothing', async () => {
    const { order, inboxRow: event, outboxId, job } = await paymentSucceededJob();
    await tdb.db.delete(outbox).where(eq(outbox.id, outboxId));

    await runner()(job);

    expect(outcomes).to.deep.equal(['skipped']);
    expect(logLines.map((l) => l.msg)).to.include('outbox row not found; job skipped');
    expect((await inboxRowById(tdb.db, event.id)).processedAt).to.equal(null);
    expect((await orderAfterEvents(tdb.db, order.id)).history).to.have.length(0);
  });

  it('when a job with a payload that breaks its contract belongs to a completed row, then it is skipped as before, not failed', async () => {
    const { outboxId, job } = await paymentSucceededJob();
    await runner()(job);
    const broken = await queueSet.queues.inbox.add(
      job.name,
      { ...job.data, payload: { inbox_id: 'not a number' } } as OutboxJobData,
      { jobId: `broken-${outboxId}` },
    );

    await runner()(broken as OutboxJob);

    expect(outcomes).to.deep.equal(['completed', 'skipped']);
  });
});
