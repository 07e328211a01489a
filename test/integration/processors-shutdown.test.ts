import { expect } from 'chai';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { outbox } from '../../db/schema.js';
import type { OutboxProcessor } from '../../jobs/outbox/run-job.js';
import { startWorker } from '../../jobs/start-worker.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { notification } from '../../db/outbox/events.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { workerEnv } from '../support/api.js';
import { spawnEntry } from '../support/processes.js';

describe('worker shutdown', function () {
  let tdb: TestDatabase;
  let redis: TestRedisPrefix;
  let peer: RecordingPeer;

  function env(): Record<string, string> {
    return {
      ...workerEnv(tdb, redis, { payments: peer, notifications: peer }),
      SHUTDOWN_TIMEOUT_MS: '300',
    };
  }

  /** A notifications processor that holds each job until released. */
  function holdingProcessor() {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    let finished = 0;
    const processor: OutboxProcessor<'notifications'> = {
      queue: 'notifications',
      async handle() {
        started += 1;
        await released;
        finished += 1;
      },
    };
    return { processor, release, started: () => started, finished: () => finished };
  }

  async function insertNotification(): Promise<number> {
    const row = notification({ id: randomUUID(), userId: 'u' }, 'order.created', 'hi');
    const [id] = await tdb.db.transaction((tx) => insertOutboxRows(tx, [row]));
    return id!;
  }

  before(async () => {
    tdb = await createTestDatabase('shutdown');
    redis = createTestRedisPrefix();
    peer = await startRecordingPeer();
  });

  after(async () => {
    await peer?.close();
    await redis?.flush();
    await tdb?.drop();
  });

  it('when stopped while a job runs briefly, then stop waits for it and its row completes', async () => {
    const hold = holdingProcessor();
    const worker = await startWorker(loadConfig({ ...env(), SHUTDOWN_TIMEOUT_MS: '5000' }), {
      database: tdb,
      logger: silentLogger(),
      processors: [hold.processor],
    });
    const id = await insertNotification();
    await waitFor(() => hold.started() === 1, { what: 'job started' });

    const stopping = worker.stop();
    setTimeout(hold.release, 50);
    await stopping;

    expect(hold.finished()).to.equal(1);
    const [row] = await tdb.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row?.completedAt).to.be.instanceOf(Date);
  });

  it('when a job outlasts the shutdown bound, then stop returns after the bound anyway', async () => {
    const hold = holdingProcessor();
    const worker = await startWorker(loadConfig(env()), {
      database: tdb,
      logger: silentLogger(),
      processors: [hold.processor],
    });
    await insertNotification();
    await waitFor(() => hold.started() === 1, { what: 'job started' });

    const t0 = Date.now();
    await worker.stop();

    expect(Date.now() - t0).to.be.below(2000);
    expect(hold.finished()).to.equal(0);
    // Let the abandoned job end and its worker finish closing, so nothing writes to Redis later.
    hold.release();
    await worker.workers[0]!.worker.closing;
  });

  it('when the worker entry gets SIGTERM, then it shuts down and exits 0', async function () {
    this.timeout(20000);
    const { child, out } = await spawnEntry(
      'jobs/worker.ts',
      { ...env(), LOG_LEVEL: 'info' },
      { ready: 'worker started', timeoutMs: 15000, what: 'worker started log line' },
    );
    try {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];

      expect(code, out.text).to.equal(0);
      expect(out.text).to.include('worker stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
