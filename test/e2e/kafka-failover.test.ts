import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Consumer, type Kafka, type Producer } from 'kafkajs';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { shippingRequested } from '../../db/outbox/events.js';
import { testConfig, storesEnv } from '../support/api.js';
import { startShippingPath, type ShippingPath } from '../support/shipping-path.js';
import { spawnEntry } from '../support/processes.js';
import {
  countRows,
  createTestDatabase,
  type TestDatabase,
} from '../../scripts/testkit/database.js';
import {
  FAST_CONSUMER,
  reportFigures,
  sharedTestBroker,
  skipUnlessApacheKafka,
  startPrivateTestBroker,
  testKafka,
  uniqueKafkaNames,
  uniqueName,
  type PrivateTestBroker,
  type TestBroker,
} from '../../scripts/testkit/kafka.js';
import { insertOrder } from '../support/orders.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';

/**
 * Failures of Kafka's moving parts on Apache Kafka, with the service's own entry points: a
 * consumer process killed with kill -9 while responses stream in, and the broker stopped and
 * started again (its data kept) while shipping requests wait. Each response is taken in and
 * applied once, each request is sent once, and every order ships. (A partition leader killed in a
 * three-node cluster: kafka-leader-failover.test.ts.)
 */

/** One bunyan line of a child process. */
interface LogLine {
  msg: string;
  time: string;
  assignment?: Record<string, number[]>;
  partition?: number;
  outcome?: string;
}

interface Child {
  child: ChildProcess;
  out: { text: string };
  lines(): LogLine[];
}

function parseLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // A line cut in the middle of a write: the rest of it comes with the next chunk.
    }
  }
  return lines;
}

/** The partitions of `topic` in the child's latest group join, or undefined before it joined. */
function latestAssignment(c: Child, topic: string): number[] | undefined {
  const joins = c.lines().filter((l) => l.msg === 'joined consumer group');
  const last = joins.at(-1);
  return last && [...(last.assignment?.[topic] ?? [])].sort((a, b) => a - b);
}

const shipped = (orderId: string, n: number) => ({
  event_type: 'order.shipped',
  order_id: orderId,
  quantity: 1,
  shipment_id: `shp-${n}-${orderId.slice(0, 8)}`,
});

describe('shipping consumer killed with kill -9 (Apache Kafka)', function () {
  this.timeout(120000);
  const ORDERS = 300;
  const PARTITIONS = 6;
  const SESSION_TIMEOUT_MS = 6000;
  const BURST = 30;
  const BURST_GAP_MS = 150;
  let broker: TestBroker;
  let db: TestDatabase;
  let redis: TestRedisPrefix;
  let peer: RecordingPeer;
  let kafka: Kafka;
  let producer: Producer | undefined;
  let worker: RunningWorker | undefined;
  let env: Record<string, string>;
  const names = uniqueKafkaNames();
  const topic = names.env.KAFKA_SHIPPING_RESPONSES_TOPIC;
  const children = new Set<ChildProcess>();
  // The producer's partitioner, to know where each response lands without reading the topic.
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
  const partitionOf = (key: string) =>
    partitioner({ topic, partitionMetadata, message: { key, value: null } });

  before(async function () {
    await skipUnlessApacheKafka(
      this,
      "this proves Apache Kafka's group coordinator handing a killed member's partitions over",
    );
    broker = await sharedTestBroker();
    db = await createTestDatabase('consumerkill');
    redis = createTestRedisPrefix();
    peer = await startRecordingPeer();
    kafka = testKafka(broker);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions: PARTITIONS }],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    env = {
      ...storesEnv(db, redis),
      KAFKA_BOOTSTRAP_SERVERS: broker.address,
      ...names.env,
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      PAYMENTS_SERVICE_API_URL: peer.url,
      NOTIFICATIONS_SERVICE_API_URL: peer.url,
      SHUTDOWN_TIMEOUT_MS: '3000',
      JOB_BACKOFF_MS: '20',
      LOG_LEVEL: 'info',
    };
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await producer?.disconnect();
    await worker?.stop();
    await peer?.close();
    await redis?.flush();
    await db?.drop();
  });

  /** Starts the consumer's entry file as the platform does; resolves once it runs. */
  async function spawnConsumer(): Promise<Child> {
    const { child, out } = await spawnEntry('jobs/shipping-consumer.ts', env, {
      ready: 'shipping consumer running',
      children,
      what: 'the consumer to run',
    });
    return { child, out, lines: () => parseLines(out.text) };
  }

  const count = (sql: string, params: unknown[] = []) => countRows(db.pool, sql, params);

  it('when one of two consumers is killed mid-batch, then the other takes its partitions over after the session timeout and every response is taken in once and applied once', async () => {
    const orders = await Promise.all(
      Array.from({ length: ORDERS }, () => insertOrder(db.db, { status: 'paid' })),
    );
    const ids = orders.map((o) => o.id);
    worker = await startWorker(testConfig(env), { logger: silentLogger(), database: db });

    const victim = await spawnConsumer();
    const survivor = await spawnConsumer();
    // Both members own a share, and together every partition: the group has settled.
    await waitFor(
      () => {
        const a = latestAssignment(victim, topic) ?? [];
        const b = latestAssignment(survivor, topic) ?? [];
        return a.length > 0 && b.length > 0 && new Set([...a, ...b]).size === PARTITIONS;
      },
      { timeoutMs: 30000, intervalMs: 100, what: 'both consumers to share the partitions' },
    );
    const victimPartitions = latestAssignment(victim, topic)!;

    // Killed on its first take-in of a burst sent after the first third: it has a batch of several
    // messages per partition in hand, some in Postgres, their offsets not yet committed.
    let armed = false;
    let killedAt = 0;
    const exited = once(victim.child, 'exit');
    victim.child.stdout!.on('data', (chunk: Buffer) => {
      if (armed && !killedAt && chunk.toString().includes('"msg":"shipping result taken in"')) {
        killedAt = Date.now();
        victim.child.kill('SIGKILL');
      }
    });

    // Responses as Shipping sends them, key = order id, in bursts of BURST a few ms apart.
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const where = new Map<string, { partition: number; offset: bigint }>();
    for (let from = 0; from < ORDERS; from += BURST) {
      const burst = ids.slice(from, from + BURST);
      const sent = await producer.send({
        topic,
        acks: -1,
        messages: burst.map((id, i) => ({ key: id, value: JSON.stringify(shipped(id, from + i)) })),
      });
      // kafkajs groups a send's messages by partition in the order given, one base offset each.
      const next = new Map(sent.map((r) => [r.partition, BigInt(r.baseOffset!)]));
      for (const id of burst) {
        const partition = partitionOf(id);
        const offset = next.get(partition)!;
        where.set(id, { partition, offset });
        next.set(partition, offset + 1n);
      }
      if (from + BURST >= ORDERS / 3) armed = true;
      await sleep(BURST_GAP_MS);
    }
    const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    expect(signal).to.equal('SIGKILL');
    expect(killedAt, 'killed while responses were still being sent').to.be.above(0);

    // The victim is dead and the survivor has not taken over yet: what the victim left behind on
    // its partitions is frozen. Taken in but not committed means delivered again to the survivor.
    const admin = kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({
      groupId: names.env.KAFKA_GROUP_ID,
      topics: [topic],
    });
    await admin.disconnect();
    const committedAt = new Map(
      committed!.partitions.map((p) => [p.partition, BigInt(Math.max(0, Number(p.offset)))]),
    );
    const takenIn = new Set(
      (await db.pool.query<{ order_id: string }>('select order_id from inbox')).rows.map(
        (r) => r.order_id,
      ),
    );
    const snapshotAt = Date.now();
    const uncommitted = ids.filter((id) => {
      const w = where.get(id)!;
      return (
        victimPartitions.includes(w.partition) &&
        takenIn.has(id) &&
        w.offset >= committedAt.get(w.partition)!
      );
    });

    // The survivor hears of the rebalance only once the group gave up on the silent member.
    await waitFor(() => latestAssignment(survivor, topic)?.length === PARTITIONS, {
      timeoutMs: SESSION_TIMEOUT_MS + 15000,
      intervalMs: 50,
      what: 'the survivor to own every partition',
    });
    const takeover = survivor
      .lines()
      .filter((l) => l.msg === 'joined consumer group')
      .at(-1)!;
    const takeoverMs = Date.parse(takeover.time) - killedAt;
    expect(Date.parse(takeover.time), 'the snapshot was taken before the takeover').to.be.above(
      snapshotAt,
    );

    await waitFor(async () => (await count('select count(*)::int as n from inbox')) === ORDERS, {
      timeoutMs: 30000,
      intervalMs: 50,
      what: 'every response in the inbox',
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await count('select count(*)::int as n from inbox')}`);
    });

    // Taken in exactly once: one inbox row per response key, for exactly these orders.
    const perKey = await db.pool.query<{ message_key: string; order_id: string; n: number }>(
      "select message_key, min(order_id::text) as order_id, count(*)::int as n from inbox where source = 'shipping' group by message_key",
    );
    expect(perKey.rowCount).to.equal(ORDERS);
    expect(perKey.rows.filter((r) => r.n !== 1)).to.deep.equal([]);
    expect(new Set(perKey.rows.map((r) => r.order_id))).to.deep.equal(new Set(ids));
    expect(await count('select count(*)::int as n from dead_letters')).to.equal(0);
    // The survivor carried on from the group's committed offsets on the victim's partitions:
    // every message the victim had taken in past them came again and was recognised.
    const survivorTook = survivor
      .lines()
      .filter(
        (l) =>
          l.msg === 'shipping result taken in' &&
          Date.parse(l.time) >= Date.parse(takeover.time) &&
          victimPartitions.includes(l.partition!),
      );
    const duplicates = survivorTook.filter((l) => l.outcome === 'duplicate');
    expect(duplicates.length, 'redelivered after the kill').to.equal(uncommitted.length);
    expect(survivorTook.length - duplicates.length, 'new on the victim partitions').to.equal(
      ids.filter((id) => victimPartitions.includes(where.get(id)!.partition) && !takenIn.has(id))
        .length,
    );
    // The session runs from the victim's last heartbeat (every third of it) before the kill;
    // kafkajs's fixed 30 s would be far above.
    expect(takeoverMs, 'the group waited out the session timeout').to.be.within(
      SESSION_TIMEOUT_MS - SESSION_TIMEOUT_MS / 3 - 1000,
      SESSION_TIMEOUT_MS + 15000,
    );

    // The worker applies each once: every order shipped, one shipped history row each.
    await waitFor(
      async () =>
        (await count(
          "select count(*)::int as n from orders where id = any($1) and status = 'shipped'",
          [ids],
        )) === ORDERS,
      { timeoutMs: 30000, intervalMs: 100, what: 'every order shipped' },
    );
    const shippedRows = await db.pool.query<{ order_id: string; n: number }>(
      "select order_id, count(*)::int as n from order_status_history where status = 'shipped' group by order_id",
    );
    expect(shippedRows.rowCount).to.equal(ORDERS);
    expect(shippedRows.rows.filter((r) => r.n !== 1)).to.deep.equal([]);
    expect(
      await count("select count(*)::int as n from inbox where result is distinct from 'applied'"),
    ).to.equal(0);

    reportFigures('consumer kill -9', {
      orders: ORDERS,
      partitions: PARTITIONS,
      victimPartitions,
      takenInAtKill: takenIn.size,
      takeoverMs,
      survivorTookOnVictimPartitions: survivorTook.length,
      redeliveredDuplicates: duplicates.length,
    });

    const stopped = once(survivor.child, 'exit');
    survivor.child.kill('SIGTERM');
    const [code] = (await stopped) as [number | null];
    expect(code, survivor.out.text.slice(-3000)).to.equal(0);
  });
});

describe('broker restarted with its data kept while shipping jobs are pending (Apache Kafka)', function () {
  this.timeout(120000);
  const ORDERS = 8;
  const SESSION_TIMEOUT_MS = 6000;
  let broker: PrivateTestBroker | undefined;
  let db: TestDatabase;
  let redis: TestRedisPrefix;
  let peer: RecordingPeer;
  let path: ShippingPath | undefined;
  let reader: Consumer | undefined;
  const fatal: Error[] = [];
  const names = uniqueKafkaNames();

  before(async function () {
    await skipUnlessApacheKafka(this, 'the in-repo broker keeps no data over a restart');
    broker = await startPrivateTestBroker();
    db = await createTestDatabase('brokerdata');
    redis = createTestRedisPrefix();
    peer = await startRecordingPeer();
  });
  after(async () => {
    await reader?.disconnect();
    await path?.stop();
    await broker?.destroy();
    await peer?.close();
    await redis?.flush();
    await db?.drop();
  });

  const count = (sql: string, params: unknown[] = []) => countRows(db.pool, sql, params);
  const shippedCount = (ids: string[]) =>
    count("select count(*)::int as n from orders where id = any($1) and status = 'shipped'", [ids]);

  /** Paid orders with their shipping request waiting in the outbox, as the payment left them. */
  async function paidOrders(n: number): Promise<{ ids: string[]; outboxIds: number[] }> {
    const ids: string[] = [];
    const outboxIds: number[] = [];
    for (let i = 0; i < n; i++) {
      const order = await insertOrder(db.db, { status: 'paid' });
      const [outboxId] = await insertOutboxRows(db.db, [shippingRequested(order)]);
      ids.push(order.id);
      outboxIds.push(outboxId!);
    }
    return { ids, outboxIds };
  }

  it('when the broker is stopped and started again, then each pending request is sent once and every order ships', async () => {
    path = await startShippingPath({
      db,
      redis,
      peer,
      brokers: [broker!.address],
      names,
      // A restarted broker keeps each group's old member until its session runs out.
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      onFatal: (err) => fatal.push(err),
    });
    const { shipping } = path;

    // The chain works end to end before the broker goes: topics, groups, producer all in use.
    const warm = await paidOrders(1);
    await waitFor(async () => (await shippedCount(warm.ids)) === 1, {
      timeoutMs: 30000,
      what: 'the first order shipped',
    });

    await broker!.stop();
    const stoppedAt = Date.now();
    const pending = await paidOrders(ORDERS);
    // Every job handed to the worker, and sends failing: the broker is really gone for them.
    // (Sends go out one at a time, so the others wait behind the failing one.)
    await waitFor(
      async () => {
        const r = await db.pool.query<{ dispatched: number; failed: number; done: number }>(
          `select count(*) filter (where dispatched_at is not null)::int as dispatched,
                  count(*) filter (where last_error is not null)::int as failed,
                  count(*) filter (where completed_at is not null)::int as done
             from outbox where id = any($1)`,
          [pending.outboxIds],
        );
        const { dispatched, failed, done } = r.rows[0]!;
        if (done > 0) throw new Error(`${done} shipping rows completed with the broker stopped`);
        return dispatched === ORDERS && failed > 0;
      },
      { timeoutMs: 60000, intervalMs: 200, what: 'every pending job dispatched and a send failed' },
    );
    expect(await shippedCount(pending.ids)).to.equal(0);
    await broker!.start();
    const downMs = Date.now() - stoppedAt;
    const startedAt = Date.now();

    await waitFor(async () => (await shippedCount(pending.ids)) === ORDERS, {
      timeoutMs: 60000,
      intervalMs: 100,
      what: 'every pending order shipped',
    }).catch(async (err: Error) => {
      const open = await db.pool.query(
        'select o.status, x.queue, x.attempts, x.last_error, x.completed_at is not null as done from orders o join outbox x on x.order_id = o.id where o.id = any($1) order by x.id',
        [pending.ids],
      );
      throw new Error(
        `${err.message}\n${JSON.stringify(open.rows)}\nfatal: ${fatal.map((e) => e.message).join('; ')}`,
      );
    });
    const recoveredMs = Date.now() - startedAt;

    const all = [...warm.ids, ...pending.ids];
    // Shipping saw each request once: one shipment per order and no repeat of its key.
    for (const id of all) {
      const seen = shipping.recorded({ order_id: id });
      expect(seen.shipments, `shipments of ${id}`).to.have.length(1);
      expect(seen.shipments[0]!.duplicates, `repeats of ${id}'s request`).to.equal(0);
    }
    // And the requests topic holds each once: nothing written twice by a retried send.
    const requests = new Map<string, number>();
    reader = testKafka(broker!).consumer({ groupId: uniqueName('reader'), ...FAST_CONSUMER });
    await reader.connect();
    await reader.subscribe({ topic: names.env.KAFKA_SHIPPING_REQUESTS_TOPIC, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        const key = message.key!.toString();
        requests.set(key, (requests.get(key) ?? 0) + 1);
      },
    });
    await waitFor(() => all.every((id) => requests.has(id)), {
      timeoutMs: 20000,
      what: 'every request read back',
    });
    expect([...requests.entries()].filter(([, n]) => n !== 1)).to.deep.equal([]);
    expect(requests.size).to.equal(all.length);

    const history = await db.pool.query<{ order_id: string; n: number }>(
      "select order_id, count(*)::int as n from order_status_history where status = 'shipped' and order_id = any($1) group by order_id",
      [all],
    );
    expect(history.rows.map((r) => r.n)).to.deep.equal(all.map(() => 1));
    expect(fatal, 'the consumer never gave up').to.deep.equal([]);
    const attempts = await db.pool.query<{ attempts: number }>(
      'select attempts from outbox where id = any($1)',
      [pending.outboxIds],
    );
    reportFigures('broker restart', {
      orders: ORDERS,
      downMs,
      recoveredMs,
      attempts: attempts.rows.map((r) => r.attempts),
    });
  });
});
