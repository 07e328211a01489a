import { expect } from 'chai';
import { expectRetriedThroughBullBoard } from '../support/bull-board-retry.js';
import { inArray, sql } from 'drizzle-orm';
import sinon from 'sinon';
import { outbox } from '../../db/schema.js';
import {
  notification,
  paymentCheck,
  paymentRequested,
  QUEUE_NAMES,
  type NewOutboxRow,
  type QueueName,
} from '../../db/outbox/events.js';
import {
  allQueues,
  createQueues,
  queueFor,
  queuePrefix,
  shardOf,
  type QueueSet,
} from '../../jobs/outbox/queues.js';
import { createReconciler } from '../../jobs/outbox/reconciler.js';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { startRedisCluster, type TestRedisCluster } from '../../scripts/testkit/redis-cluster.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { orderBody, orderFacts } from '../support/factories.js';
import { bullJobIdOfRow, commitAndRelay } from '../support/orders.js';
import { ADMIN_AUTH, startTestSystem, type TestSystem } from '../support/system.js';
import { startTestApi, type TestApi } from '../support/api.js';

/**
 * The service on a local Redis Cluster (3 masters, 3 replicas, scripts/testkit/redis-cluster.ts),
 * private to this file, so its prefixes are fixed and where each queue lands is the same every run.
 * REDIS_URL names one node of the cluster: a service that ignored REDIS_CLUSTER_NODES would talk
 * to that node as to one server and get MOVED for most keys.
 */
describe('on a Redis Cluster (REDIS_CLUSTER_NODES)', function () {
  this.timeout(90000);
  let cluster: TestRedisCluster;
  let oneNodeUrl: string;

  function clusterEnv(prefix: string): Record<string, string> {
    return { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_URL: oneNodeUrl, BULLMQ_PREFIX: prefix };
  }

  before(async () => {
    cluster = await startRedisCluster();
    oneNodeUrl = `redis://127.0.0.1:${cluster.nodes[0]!.port}`;
  });
  after(async () => {
    await cluster?.stop();
  });

  describe('the whole service (development mode)', () => {
    let sys: TestSystem;
    const PREFIX = 'orders';

    before(async () => {
      // A prefix without braces: the service makes each queue's hash tag itself.
      sys = await startTestSystem({
        ...clusterEnv(PREFIX),
        QUEUE_SHARDS_PAYMENTS: '2',
        QUEUE_SHARDS_NOTIFICATIONS: '2',
      });
    });
    after(async () => {
      await sys?.stop();
    });

    it('when an order is created, then it is paid, shipped and notified, as on one Redis', async () => {
      const started = Date.now();
      const created = await sys.request('POST', '/api/v1/orders', orderBody({ quantity: 2 }));
      expect(created.status).to.equal(201);
      const id = created.body.data.id as string;

      const order = await sys.until(id, ['shipped', 'cancelled'], 30000);

      expect(order.status).to.equal('shipped');
      await waitFor(() => sys.notificationEvents(id).length === 3, {
        timeoutMs: 10000,
        what: 'three notifications',
      });
      expect(sys.notificationEvents(id)).to.deep.equal([
        'order.created',
        'order.paid',
        'order.shipped',
      ]);
      expect(sys.peers().payments.recorded({ order_id: id }).payments).to.have.length(1);
      console.log(`      (order flow on the cluster: ${Date.now() - started} ms)`);
    });

    it('when orders run on queues split in two shards, then each ends shipped, with each job on its order’s shard', async () => {
      // Order ids are the service's own: orders are added until both shards have some.
      const ids: string[] = [];
      while (
        ids.length < 4 ||
        (new Set(ids.map((id) => shardOf(id, 2))).size < 2 && ids.length < 30)
      ) {
        const created = await sys.request('POST', '/api/v1/orders', orderBody());
        expect(created.status).to.equal(201);
        ids.push(created.body.data.id as string);
      }
      for (const id of ids)
        expect((await sys.until(id, ['shipped', 'cancelled'], 30000)).status).to.equal('shipped');
      const shards = new Set(ids.map((id) => shardOf(id, 2)));
      expect(shards.size, 'orders on both shards').to.equal(2);
      for (const id of ids) {
        const journey = await sys.request(
          'GET',
          `/admin/orders/${id}/journey`,
          undefined,
          ADMIN_AUTH,
        );
        const payment = (
          journey.body.data.outbox as { queue: string; job: { queue: string; state: string } }[]
        ).find((r) => r.queue === 'payments');
        expect(payment!.job.queue).to.equal(shardOf(id, 2) === 0 ? 'payments' : 'payments.1');
        expect(payment!.job.state).to.equal('completed');
      }
    });

    it('when the queues have run, then each shard has its own hash tag and they sit on more than one master', async () => {
      const masters = new Set<number>();
      for (const name of [...QUEUE_NAMES, 'payments.1', 'notifications.1']) {
        const meta = `${queuePrefix(PREFIX, name, true)}:${name}:meta`;
        expect(meta).to.equal(`{${PREFIX}:${name}}:${name}:meta`);
        const port = await cluster.masterOf(meta);
        expect(await cluster.nodeClient(port).exists(meta), meta).to.equal(1);
        masters.add(port);
      }
      expect(masters.size).to.be.greaterThan(1);
    });

    it('when Bull Board lists the queues on the cluster, then it shows each with its jobs', async () => {
      const res = await sys.request('GET', '/admin/queues/api/queues', undefined, ADMIN_AUTH);
      expect(res.status).to.equal(200);
      const names = res.body.queues.map((q: { name: string }) => q.name);
      expect(names).to.have.members([...QUEUE_NAMES, 'payments.1', 'notifications.1']);
      const payments = res.body.queues.find((q: { name: string }) => q.name === 'payments');
      expect(payments.counts.completed).to.be.greaterThan(0);
    });

    it('when readiness is asked, then Redis (every master) is ok', async () => {
      const ready = await sys.request('GET', '/health/ready');
      expect(ready.status).to.equal(200);
      expect(ready.body.data.checks.redis).to.equal('ok');
      expect(ready.body.data.warnings).to.deep.equal([]);
    });

    it('when one master of the cluster may evict keys, then readiness warns about it', async () => {
      const masters = (await cluster.roles()).filter((r) => r.role === 'master');
      const last = cluster.nodeClient(masters.at(-1)!.port);
      await last.config('SET', 'maxmemory-policy', 'allkeys-lru');
      try {
        const ready = await sys.request('GET', '/health/ready');
        expect(ready.status).to.equal(200);
        expect(ready.body.data.warnings[0]).to.include({ field: 'redis' });
        expect(ready.body.data.warnings[0].message).to.match(/maxmemory-policy is allkeys-lru/);
      } finally {
        await last.config('SET', 'maxmemory-policy', 'noeviction');
      }
    });
  });

  describe('the relay and the reconciler', () => {
    let tdb: TestDatabase;
    let queueSet: QueueSet;
    const PREFIX = '{relay}';

    const order = () => orderFacts();
    /** Rows for three queues, which sit on different masters under this prefix. */
    const rows = (n: number): NewOutboxRow[] =>
      Array.from({ length: n }, (_, i) =>
        i % 3 === 0
          ? paymentRequested(order())
          : i % 3 === 1
            ? notification(order(), 'order.created', 'hi')
            : paymentCheck(order().id, 1, 0),
      );

    async function dispatched(
      n: number,
    ): Promise<{ ids: number[]; queues: QueueName[]; orders: (string | null)[] }> {
      const batch = rows(n);
      const ids = await commitAndRelay(tdb, queueSet.shards, batch);
      return { ids, queues: batch.map((r) => r.queue), orders: batch.map((r) => r.orderId) };
    }

    /** Each row's job, looked up on its order's shard of its queue. */
    async function jobsOf({
      ids,
      queues,
      orders,
    }: {
      ids: number[];
      queues: QueueName[];
      orders: (string | null)[];
    }) {
      return Promise.all(
        ids.map(async (id, i) =>
          queueFor(queueSet.shards, queues[i]!, orders[i]!).getJob(
            await bullJobIdOfRow(tdb.db, id),
          ),
        ),
      );
    }

    before(async () => {
      tdb = await createTestDatabase('cluster');
      queueSet = createQueues(
        loadConfig({ DATABASE_URL: tdb.url, ...clusterEnv(PREFIX), QUEUE_SHARDS_PAYMENTS: '3' }),
        silentLogger(),
      );
    });
    afterEach(async () => {
      sinon.restore();
      await tdb.db.delete(outbox);
    });
    after(async () => {
      await queueSet?.close();
      await tdb?.drop();
    });

    it('when rows of several queues are relayed, one queue split in 3 shards, then one addBulk per shard used puts each job on its order’s shard, and the shards spread over the masters', async () => {
      const payments = queueSet.shards.payments;
      expect(payments.map((q) => q.name)).to.deep.equal(['payments', 'payments.1', 'payments.2']);
      const spies = allQueues(queueSet.shards).map((q) => sinon.spy(q, 'addBulk'));

      const relayed = await dispatched(30);

      const jobs = await jobsOf(relayed);
      expect(jobs.map((j) => j?.data.outboxId)).to.deep.equal(relayed.ids);
      const paymentOrders = relayed.orders.filter((_, i) => relayed.queues[i] === 'payments');
      const shardsUsed = new Set(paymentOrders.map((o) => shardOf(o, 3)));
      expect(shardsUsed.size, 'ten orders over three shards').to.be.greaterThan(1);
      for (const [shard, queue] of payments.entries()) {
        const onIt = paymentOrders.filter((o) => shardOf(o, 3) === shard).length;
        expect(await queue.count(), queue.name).to.equal(onIt);
      }
      // payments' shards used, notifications and payment-checks: one addBulk each.
      expect(spies.reduce((n, s) => n + s.callCount, 0)).to.equal(shardsUsed.size + 2);
      const masters = new Set(
        await Promise.all(
          ['payments', 'payments.1', 'payments.2', 'notifications', 'payment-checks'].map((q) =>
            cluster.masterOf(`${queuePrefix(PREFIX, q, true)}:${q}:meta`),
          ),
        ),
      );
      expect(masters.size).to.be.greaterThan(1);
    });

    it('when every master is flushed, then the reconciler adds every open row again under the same ids', async () => {
      const relayed = await dispatched(6);
      const { ids } = relayed;
      await cluster.flushAll();
      expect((await jobsOf(relayed)).every((j) => j === undefined)).to.equal(true);
      await tdb.db
        .update(outbox)
        // An hour ago, and for the payment checks' delayed jobs, due an hour ago.
        .set({
          dispatchedAt: sql`now() - interval '1 hour'`,
          runAfter: sql`now() - interval '1 hour'`,
        })
        .where(inArray(outbox.id, ids));
      const reconciler = createReconciler({
        db: tdb.db,
        queues: queueSet.shards,
        logger: silentLogger(),
        afterMs: 60_000,
        everyMs: 60_000,
      });

      const first = await reconciler.runOnce();

      expect(first).to.deep.equal({ checked: 6, requeued: 6, rerun: 0 });
      expect((await jobsOf(relayed)).map((j) => j?.data.outboxId)).to.deep.equal(ids);
      expect(await reconciler.runOnce()).to.deep.equal({ checked: 0, requeued: 0, rerun: 0 });
    });
  });

  describe('Bull Board retrying a failed job', () => {
    let api: TestApi;
    const PREFIX = 'board';
    const AUTH = {
      authorization: `Basic ${Buffer.from('ops:cluster-board-pw').toString('base64')}`,
    };

    before(async () => {
      api = await startTestApi({
        label: 'cluster_board',
        env: { ...clusterEnv(PREFIX), ADMIN_USER: 'ops', ADMIN_PASSWORD: 'cluster-board-pw' },
      });
    });
    after(async () => {
      await api?.stop();
    });

    it('when a job failed on the cluster, then ops see its error, retry it, and it runs again', async () => {
      const { runs } = await expectRetriedThroughBullBoard(api.request, {
        redis: { url: oneNodeUrl, clusterNodes: cluster.seeds },
        prefix: queuePrefix(PREFIX, 'payments', true),
        auth: AUTH,
      });
      expect(runs).to.equal(2);
    });
  });
});
