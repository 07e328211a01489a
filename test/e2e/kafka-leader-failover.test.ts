import { expect } from 'chai';
import { waitForTopicLeaders } from '../../lib/kafka/topics.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { shippingRequested } from '../../db/outbox/events.js';
import { startShippingPath, type ShippingPath } from '../support/shipping-path.js';
import {
  countRows,
  createTestDatabase,
  type TestDatabase,
} from '../../scripts/testkit/database.js';
import {
  reportFigures,
  skipUnlessApacheKafka,
  startRealCluster,
  testKafka,
  uniqueKafkaNames,
  uniqueName,
  type KafkaCluster,
} from '../../scripts/testkit/kafka.js';
import { insertOrder } from '../support/orders.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';

/**
 * A three-node Apache Kafka cluster (replication 3, min.insync.replicas 2) loses the leader of a
 * responses partition to SIGKILL while responses stream in and the worker produces shipping
 * requests: every order ships once, and the idempotent producers lose nothing and write a message
 * twice only when its send was reported failed and made again. Run with KAFKA_FAILOVER_REPORT=1
 * for the figures (which node, sends that gave up, time to ship everything).
 */
describe('partition leader killed in a three-node cluster (Apache Kafka)', function () {
  this.timeout(150000);
  const DIRECT = 150;
  const REQUESTED = 45;
  const PARTITIONS = 3;
  const SESSION_TIMEOUT_MS = 6000;
  let cluster: KafkaCluster | undefined;
  let kafka: Kafka;
  let db: TestDatabase;
  let redis: TestRedisPrefix;
  let peer: RecordingPeer;
  let path: ShippingPath | undefined;
  let producer: Producer | undefined;
  const fatal: Error[] = [];
  const names = uniqueKafkaNames();
  const requestsTopic = names.env.KAFKA_SHIPPING_REQUESTS_TOPIC;
  const responsesTopic = names.env.KAFKA_SHIPPING_RESPONSES_TOPIC;

  before(async function () {
    await skipUnlessApacheKafka(this, 'a three-node cluster');
    [cluster, db, peer] = await Promise.all([
      startRealCluster({ brokers: 3 }),
      createTestDatabase('leaderkill'),
      startRecordingPeer(),
    ]);
    redis = createTestRedisPrefix();
    // kafkajs's own retry budget, as the service and Shipping have it: an election takes seconds.
    kafka = testKafka({ address: cluster.brokers[0]! }, { brokers: cluster.brokers, retry: {} });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [requestsTopic, responsesTopic].map((topic) => ({
          topic,
          numPartitions: PARTITIONS,
          replicationFactor: 3,
          configEntries: [{ name: 'min.insync.replicas', value: '2' }],
        })),
        waitForLeaders: false,
      });
      await waitForTopicLeaders(admin, [requestsTopic, responsesTopic]);
    } finally {
      await admin.disconnect();
    }
  });
  after(async () => {
    await producer?.disconnect();
    await path?.stop();
    await cluster?.stop();
    await peer?.close();
    await redis?.flush();
    await db?.drop();
  });

  const count = (sql: string, params: unknown[] = []) => countRows(db.pool, sql, params);

  /** Every message of `topic`, counted per key, read from the beginning by a group of its own. */
  async function keysIn(topic: string): Promise<Map<string, number>> {
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const total = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    const keys = new Map<string, number>();
    let seen = 0;
    const reader = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 500 });
    await reader.connect();
    try {
      await reader.subscribe({ topic, fromBeginning: true });
      await reader.run({
        eachMessage: async ({ message }) => {
          const key = message.key!.toString();
          keys.set(key, (keys.get(key) ?? 0) + 1);
          seen++;
        },
      });
      await waitFor(() => seen >= total, {
        timeoutMs: 30000,
        what: `${total} messages of ${topic}`,
      });
    } finally {
      await reader.disconnect();
    }
    return keys;
  }

  it('when the leader of a responses partition is killed mid-run, then every order ships once and no request or response is lost or written twice by a retry', async () => {
    path = await startShippingPath({
      db,
      redis,
      peer,
      brokers: cluster!.brokers,
      names,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      onFatal: (err) => fatal.push(err),
    });
    const { shipping } = path;

    const direct = await Promise.all(
      Array.from({ length: DIRECT }, () => insertOrder(db.db, { status: 'paid' })),
    );
    const requested = await Promise.all(
      Array.from({ length: REQUESTED }, () => insertOrder(db.db, { status: 'paid' })),
    );
    const directIds = direct.map((o) => o.id);
    const requestedIds = requested.map((o) => o.id);
    const allIds = [...directIds, ...requestedIds];

    // Shipping's answers for the first set, one send each, acks from every in-sync replica.
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    let sent = 0;
    const failedSends = new Set<string>();
    const responses = (async () => {
      for (const [n, id] of directIds.entries()) {
        const value = JSON.stringify({
          event_type: 'order.shipped',
          order_id: id,
          quantity: 1,
          shipment_id: `shp-${n}`,
        });
        // A send that gives up is sent again, as Shipping would: the inbox knows the repeat.
        for (let attempt = 1; ; attempt++) {
          try {
            await producer!.send({
              topic: responsesTopic,
              acks: -1,
              messages: [{ key: id, value }],
            });
            break;
          } catch (err) {
            failedSends.add(id);
            if (attempt === 5) throw err;
          }
        }
        sent++;
        await sleep(25);
      }
    })();
    // Payments accepted for the second set, one by one: the worker produces their requests.
    // A third paced before the kill; a third at once just before it, so that the worker's sends
    // queue up as the leader dies; a third paced after it, while leaders are elected.
    const pay = async (orders: typeof requested) => {
      for (const order of orders) {
        await insertOutboxRows(db.db, [shippingRequested(order)]);
        await sleep(100);
      }
    };
    const third = Math.floor(REQUESTED / 3);
    await pay(requested.slice(0, third));

    await waitFor(() => sent >= DIRECT / 3, { timeoutMs: 30000, what: 'a third sent' });
    const admin = kafka.admin();
    await admin.connect();
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [responsesTopic] })).topics;
    const [requestsMetadata] = (await admin.fetchTopicMetadata({ topics: [requestsTopic] })).topics;
    const { controller } = await admin.describeCluster();
    await admin.disconnect();
    const leader = metadata!.partitions.find((p) => p.partitionId === 0)!.leader;
    const node = cluster!.nodes.find((n) => n.nodeId === leader)!;
    // Kafka makes each node the preferred leader of one partition of each topic: the worker's
    // requests lose a leader too.
    const ledRequests = requestsMetadata!.partitions
      .filter((p) => p.leader === leader)
      .map((p) => p.partitionId);
    expect(ledRequests, 'requests partitions led by the node to kill').to.not.be.empty;
    await insertOutboxRows(db.db, requested.slice(third, 2 * third).map(shippingRequested));
    const killedAt = Date.now();
    const responsesAtKill = sent;
    await node.kill();
    expect(node.running).to.equal(false);

    await Promise.all([responses, pay(requested.slice(2 * third))]);
    const streamsDoneMs = Date.now() - killedAt;
    // The killed node comes back with its data and catches up as a follower.
    let restartedMs = 0;
    const restarting = node.start().then(() => (restartedMs = Date.now() - killedAt));

    await waitFor(
      async () =>
        (await count(
          "select count(*)::int as n from orders where id = any($1) and status = 'shipped'",
          [allIds],
        )) === allIds.length,
      { timeoutMs: 60000, intervalMs: 100, what: 'every order shipped' },
    ).catch(async (err: Error) => {
      const open = await db.pool.query(
        "select o.status, x.queue, x.attempts, x.last_error from orders o left join outbox x on x.order_id = o.id and x.completed_at is null where o.id = any($1) and o.status <> 'shipped' limit 5",
        [allIds],
      );
      throw new Error(
        `${err.message}\n${JSON.stringify(open.rows)}\nfatal: ${fatal.map((e) => e.message).join('; ')}`,
      );
    });
    const shippedMs = Date.now() - killedAt;
    await restarting;

    // Applied once: one inbox row per response, one shipped history row per order.
    const inbox = await db.pool.query<{ order_id: string; n: number }>(
      "select order_id, count(*)::int as n from inbox where source = 'shipping' group by order_id",
    );
    expect(inbox.rowCount).to.equal(allIds.length);
    expect(inbox.rows.filter((r) => r.n !== 1)).to.deep.equal([]);
    const history = await db.pool.query<{ order_id: string; n: number }>(
      "select order_id, count(*)::int as n from order_status_history where status = 'shipped' group by order_id",
    );
    expect(history.rowCount).to.equal(allIds.length);
    expect(history.rows.filter((r) => r.n !== 1)).to.deep.equal([]);
    expect(await count('select count(*)::int as n from dead_letters')).to.equal(0);
    expect(fatal, 'the consumer never gave up').to.deep.equal([]);

    // The worker's idempotent producer wrote each request; twice only when a send was reported
    // failed and its job sent it again (a failed send may have been written: the new producer id
    // after it cannot know). Shipping answered each once, by idempotency key. (Shipping's own
    // consumer may be given a request again when its group moves: Kafka delivers at least once.)
    const retried = new Set(
      (
        await db.pool.query<{ order_id: string }>(
          "select order_id from outbox where queue = 'shipping' and attempts > 1",
        )
      ).rows.map((r) => r.order_id),
    );
    const requests = await keysIn(requestsTopic);
    expect([...requests.keys()].sort()).to.deep.equal([...requestedIds].sort());
    expect(
      [...requests.entries()].filter(([id, n]) => n !== 1 && !retried.has(id)),
      'requests written twice without a failed send',
    ).to.deep.equal([]);
    for (const id of requestedIds) {
      expect(shipping.recorded({ order_id: id }).shipments, `shipments of ${id}`).to.have.length(1);
    }
    // The responses topic holds each of the test's answers once, unless the test itself sent it
    // again after a send gave up.
    const answers = await keysIn(responsesTopic);
    const twice = directIds.filter((id) => answers.get(id) !== 1 && !failedSends.has(id));
    expect(twice).to.deep.equal([]);

    reportFigures('leader killed', {
      directOrders: DIRECT,
      requestedOrders: REQUESTED,
      killedNode: leader,
      killedNodeWasController: controller === leader,
      nodeAlsoLedRequestsPartitions: ledRequests,
      responsesAtKill,
      requestsBeforeKill: 2 * third,
      responseSendsThatGaveUp: failedSends.size,
      shippingJobsRetried: retried.size,
      requestsWrittenTwice: [...requests.values()].filter((n) => n > 1).length,
      redeliveredToShipping: shipping.recorded().duplicates,
      streamsDoneMs,
      restartedMs,
      shippedMs,
    });
  });
});
