import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startWeb, type RunningWeb } from '../../api/server.js';
import { silentLogger } from '../../lib/platform/logger.js';
import type { Peers } from '../../scripts/peers/index.js';
import { request, testConfig, storesEnv } from '../support/api.js';
import { spawnEntry } from '../support/processes.js';
import { startInstantPeers } from '../support/peers.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { orderBody, STICKER } from '../support/factories.js';
import {
  sharedTestBroker,
  uniqueKafkaNames,
  type TestBroker,
} from '../../scripts/testkit/kafka.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { waitFor } from '../../scripts/testkit/wait.js';

const SHUTDOWN_TIMEOUT_MS = 3000;

/**
 * The worker and the consumer as the platform runs them (separate processes, compiled by tsx),
 * stopped with SIGTERM in the middle of a run and started again: each exits 0 within its bound
 * and no order is lost or handled twice.
 */
describe('processes stopped mid-run with SIGTERM', function () {
  this.timeout(90000);
  let db: TestDatabase;
  let redis: TestRedisPrefix;
  let broker: TestBroker;
  let peers: Peers;
  let web: RunningWeb;
  let env: Record<string, string>;
  const children = new Set<ChildProcess>();
  const secret = `whsec_${Buffer.from('restart-test-secret-0123456789').toString('base64')}`;

  before(async () => {
    db = await createTestDatabase('restarts');
    redis = createTestRedisPrefix();
    broker = await sharedTestBroker();
    const kafkaNames = uniqueKafkaNames();
    peers = await startInstantPeers({
      webhookSecret: secret,
      brokers: [broker.address],
      kafkaNames: kafkaNames.shippingPeer,
    });
    env = {
      ...storesEnv(db, redis),
      KAFKA_BOOTSTRAP_SERVERS: broker.address,
      ...kafkaNames.env,
      CATALOG_SERVICE_API_URL: `${peers.catalog.url}/api/items`,
      PAYMENTS_SERVICE_API_URL: `${peers.payments.url}/api/payments`,
      NOTIFICATIONS_SERVICE_API_URL: `${peers.notifications.url}/api/notifications`,
      PAYMENTS_WEBHOOK_SECRET: secret,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      JOB_BACKOFF_MS: '20',
      LOG_LEVEL: 'info',
    };
    web = await startWeb(testConfig(env), { logger: silentLogger(), database: db, port: 0 });
    env.PAYMENTS_CALLBACK_URL = `http://127.0.0.1:${web.port}/api/v1/orders/payment-callback`;
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await web?.stop();
    await peers?.stop();
    await redis?.flush();
    await db?.drop();
  });

  /** Starts an entry file as its own process; resolves once it logged `ready`. */
  const spawnProcess = (entry: string, ready: string) =>
    spawnEntry(
      entry,
      { ...env, PAYMENTS_CALLBACK_URL: env.PAYMENTS_CALLBACK_URL! },
      { ready, children, what: `${entry}: ${ready}` },
    );

  async function terminate(child: ChildProcess): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    return { code, ms: Date.now() - started };
  }

  const createOrders = (n: number) =>
    Promise.all(
      Array.from({ length: n }, async () => {
        const res = await request(
          `http://127.0.0.1:${web.port}`,
          'POST',
          '/api/v1/orders',
          orderBody({ item_id: STICKER.id }),
        );
        expect(res.status).to.equal(201);
        return res.body.data.id as string;
      }),
    );

  async function expectAllShippedOnce(ids: string[]) {
    await waitFor(
      async () => {
        const r = await db.pool.query(
          "select count(*)::int as n from orders where id = any($1) and status = 'shipped'",
          [ids],
        );
        return r.rows[0].n === ids.length;
      },
      { timeoutMs: 30000, intervalMs: 50, what: 'every order shipped' },
    );
    for (const id of ids) {
      expect(peers.payments.recorded({ order_id: id }).payments, `payment of ${id}`).to.have.length(
        1,
      );
      expect(
        peers.shipping.recorded({ order_id: id }).shipments,
        `shipment of ${id}`,
      ).to.have.length(1);
      const history = await db.pool.query(
        'select status from order_status_history where order_id = $1 order by id',
        [id],
      );
      expect(history.rows.map((r) => r.status)).to.deep.equal(['new', 'paid', 'shipped']);
    }
    // The shipped notification is written with the shipped status and sent just after it.
    await waitFor(
      async () =>
        (
          await db.pool.query(
            'select 1 from outbox where order_id = any($1) and completed_at is null',
            [ids],
          )
        ).rowCount === 0,
      { timeoutMs: 10000, what: 'every outbox row of these orders completed' },
    );
  }

  it('when the worker gets SIGTERM mid-run, then it exits 0 within its bound and, restarted, finishes every order once', async () => {
    const consumer = await spawnProcess('jobs/shipping-consumer.ts', 'shipping consumer running');
    const first = await spawnProcess('jobs/worker.ts', 'worker started');
    const ids = await createOrders(15);
    const [stopped, more] = await Promise.all([terminate(first.child), createOrders(15)]);

    expect(stopped.code, first.out.text).to.equal(0);
    expect(stopped.ms).to.be.below(SHUTDOWN_TIMEOUT_MS + 2000);
    expect(first.out.text).to.include('worker stopped');

    await spawnProcess('jobs/worker.ts', 'worker started');
    await expectAllShippedOnce([...ids, ...more]);
    const c = await terminate(consumer.child);
    expect(c.code, consumer.out.text).to.equal(0);
  });

  it('when the web process gets SIGTERM while orders wait on Catalog, then every order in flight is answered 201 and kept, and it exits 0 within its bound', async () => {
    // Its own bound, long enough to finish what it holds: the web process gives open requests
    // its shutdown bound less 2 s (api/server.ts).
    const webShutdownMs = 8000;
    const { child, out } = await spawnEntry(
      'api/server.ts',
      { ...env, PORT: '0', SHUTDOWN_TIMEOUT_MS: String(webShutdownMs) },
      { ready: /"port":\d+,"msg":"web listening"/, children, what: 'web listening' },
    );
    const port = Number(/"port":(\d+),"msg":"web listening"/.exec(out.text)![1]);
    const base = `http://127.0.0.1:${port}`;
    // Catalog answers after a second, so every order is still in the web process at SIGTERM.
    peers.catalog.setFault({ delayMs: 1000 });
    try {
      const asked = peers.catalog.requests;
      const answers = Promise.all(
        Array.from({ length: 20 }, () =>
          request(base, 'POST', '/api/v1/orders', orderBody()).then(
            (res) => ({ status: res.status, id: res.body?.data?.id as string | undefined }),
            (err: Error) => ({ status: `no answer: ${err.message}`, id: undefined }),
          ),
        ),
      );
      await waitFor(() => peers.catalog.requests - asked === 20, {
        timeoutMs: 10000,
        intervalMs: 10,
        what: 'every order waiting on Catalog',
      });
      const stopped = await terminate(child);
      const answered = await answers;

      expect(stopped.code, out.text).to.equal(0);
      expect(stopped.ms).to.be.below(webShutdownMs + 2000);
      expect(answered.map((a) => a.status)).to.deep.equal(Array(20).fill(201));
      const ids = answered.map((a) => a.id);
      const kept = await db.pool.query('select count(*)::int as n from orders where id = any($1)', [
        ids,
      ]);
      expect(kept.rows[0].n).to.equal(20);
    } finally {
      peers.catalog.setFault(undefined);
    }
  });

  it('when the consumer gets SIGTERM mid-run, then it exits 0 within its bound and, restarted, nothing is lost', async () => {
    const worker = await spawnProcess('jobs/worker.ts', 'worker started');
    const first = await spawnProcess('jobs/shipping-consumer.ts', 'shipping consumer running');
    const ids = await createOrders(15);
    const [stopped, more] = await Promise.all([terminate(first.child), createOrders(15)]);

    expect(stopped.code, first.out.text).to.equal(0);
    expect(stopped.ms).to.be.below(SHUTDOWN_TIMEOUT_MS + 2000);

    await spawnProcess('jobs/shipping-consumer.ts', 'shipping consumer running');
    await expectAllShippedOnce([...ids, ...more]);
    expect((await terminate(worker.child)).code).to.equal(0);
  });
});
