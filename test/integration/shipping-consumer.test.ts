import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka, Producer } from 'kafkajs';
import sinon from 'sinon';
import {
  startShippingConsumer,
  type RunningShippingConsumer,
  type ShippingConsumerDeps,
} from '../../jobs/start-shipping-consumer.js';
import { readinessAnswer, runChecks } from '../../lib/platform/health.js';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { createMetrics } from '../../lib/platform/metrics.js';
import { testConfig } from '../support/api.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import {
  FAST_CONSUMER,
  sharedTestBroker,
  testKafka,
  uniqueName,
  type TestBroker,
} from '../../scripts/testkit/kafka.js';
import { insertOrder } from '../support/orders.js';
import { startPrivatePostgres } from '../faults/support/postgres.js';
import { waitFor } from '../../scripts/testkit/wait.js';

/** How long Postgres stays down: several of the consumer's retries. */
const OUTAGE_MS = 5000;

describe('shipping consumer (Kafka over TCP, real Postgres)', function () {
  this.timeout(30000);
  let db: TestDatabase;
  let broker: TestBroker;
  let kafka: Kafka;
  let producer: Producer;
  const running: RunningShippingConsumer[] = [];

  before(async () => {
    db = await createTestDatabase('consumer');
    broker = await sharedTestBroker();
    kafka = testKafka(broker);
    producer = kafka.producer();
    await producer.connect();
  });
  afterEach(async () => {
    sinon.restore();
    while (running.length) await running.pop()!.stop();
  });
  after(async () => {
    await producer.disconnect();
    await db.drop();
  });

  function configFor(
    topic: string,
    requestsTopic = 'unused.requests',
    group = uniqueName('group'),
  ) {
    return testConfig({
      DATABASE_URL: db.url,
      KAFKA_BOOTSTRAP_SERVERS: broker.address,
      KAFKA_SHIPPING_RESPONSES_TOPIC: topic,
      KAFKA_SHIPPING_REQUESTS_TOPIC: requestsTopic,
      KAFKA_GROUP_ID: group,
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
  }

  async function start(
    config: ReturnType<typeof configFor>,
    metrics = createMetrics({ defaults: false }),
    deps: Partial<Pick<ShippingConsumerDeps, 'logger' | 'onFatal'>> = {},
  ) {
    const c = await startShippingConsumer(config, {
      logger: silentLogger(),
      database: db,
      kafka,
      metrics,
      consumer: FAST_CONSUMER,
      ...deps,
    });
    running.push(c);
    return c;
  }

  const send = (topic: string, values: (string | object)[], key?: string) =>
    producer.send({
      topic,
      messages: values.map((v) => ({
        key: key ?? null,
        value: typeof v === 'string' ? v : JSON.stringify(v),
      })),
    });

  const inboxRows = async (orderId: string) =>
    (
      await db.pool.query(
        'select event_type, message_key, payload from inbox where order_id = $1',
        [orderId],
      )
    ).rows;
  const deadLetters = async (topic: string) =>
    (
      await db.pool.query(
        'select reason, value, "offset" from dead_letters where topic = $1 order by "offset"',
        [topic],
      )
    ).rows;
  const shipped = (orderId: string, shipmentId = `shp-${randomUUID().slice(0, 6)}`) => ({
    event_type: 'order.shipped',
    order_id: orderId,
    item_id: randomUUID(),
    quantity: 1,
    shipment_id: shipmentId,
  });

  it('when an order.shipped response arrives, then an inbox row and its inbox outbox row are written', async () => {
    const topic = uniqueName('responses');
    const order = await insertOrder(db.db, { status: 'paid' });
    await start(configFor(topic));
    await send(topic, [shipped(order.id, 'shp-1')], order.id);

    await waitFor(async () => (await inboxRows(order.id)).length === 1, { timeoutMs: 10000 });
    const [row] = await inboxRows(order.id);
    expect(row.event_type).to.equal('order.shipped');
    expect(row.payload.shipment_id).to.equal('shp-1');
    const outbox = await db.pool.query(
      "select queue from outbox where order_id = $1 and queue = 'inbox'",
      [order.id],
    );
    expect(outbox.rowCount).to.equal(1);
  });

  it('when the same response is delivered three times, then it is recorded once', async () => {
    const topic = uniqueName('responses');
    const order = await insertOrder(db.db, { status: 'paid' });
    const metrics = createMetrics({ defaults: false });
    await start(configFor(topic), metrics);
    const msg = shipped(order.id, 'shp-3x');
    await send(topic, [msg, msg, msg], order.id);

    await waitFor(
      async () =>
        (await metrics.shippingMessages.get()).values.reduce((n, v) => n + v.value, 0) === 3,
      { timeoutMs: 10000 },
    );
    expect(await inboxRows(order.id)).to.have.length(1);
    const byOutcome = Object.fromEntries(
      (await metrics.shippingMessages.get()).values.map((v) => [v.labels.outcome, v.value]),
    );
    expect(byOutcome).to.deep.equal({ recorded: 1, duplicate: 2 });
  });

  it('when garbage and schema-violating messages come, then they are dead-lettered and later valid ones still go through', async () => {
    const topic = uniqueName('responses');
    const order = await insertOrder(db.db, { status: 'paid' });
    await start(configFor(topic));
    await send(
      topic,
      [
        'not json at all {',
        { event_type: 'order.shipped', order_id: 'not-a-uuid', shipment_id: 's' },
        { event_type: 'order.shipped', order_id: order.id }, // shipment_id missing
        shipped(randomUUID()), // unknown order
        shipped(order.id, 'shp-after-garbage'),
        // One key: one partition, so the dead letters' offsets follow the order sent.
      ],
      order.id,
    );

    await waitFor(async () => (await inboxRows(order.id)).length === 1, { timeoutMs: 10000 });
    const letters = await deadLetters(topic);
    expect(letters.map((l) => l.reason)).to.have.length(4);
    expect(letters[0].reason).to.match(/^not JSON/);
    expect(letters[0].value).to.equal('not json at all {');
    expect(letters[1].reason).to.match(/order_id/);
    expect(letters[2].reason).to.match(/shipment_id/);
    expect(letters[3].reason).to.match(/^unknown order/);
  });

  it('when requests and responses share one topic, then its own order.paid requests are skipped', async () => {
    const topic = uniqueName('shared');
    const order = await insertOrder(db.db, { status: 'paid' });
    const metrics = createMetrics({ defaults: false });
    await start(configFor(topic, topic), metrics);
    await send(topic, [
      {
        event_type: 'order.paid',
        order_id: order.id,
        item_id: randomUUID(),
        quantity: 1,
        idempotency_key: randomUUID(),
      },
      shipped(order.id),
    ]);

    await waitFor(async () => (await inboxRows(order.id)).length === 1, { timeoutMs: 10000 });
    const skipped = (await metrics.shippingMessages.get()).values.find(
      (v) => v.labels.outcome === 'skipped',
    );
    expect(skipped?.value).to.equal(1);
    expect(await deadLetters(topic)).to.have.length(0);
  });

  it('when killed after the database commit but before the offset commit, then the redelivered message is a no-op', async () => {
    const topic = uniqueName('responses');
    const group = uniqueName('group');
    const order = await insertOrder(db.db, { status: 'paid' });
    const config = configFor(topic, 'unused', group);
    const first = await start(config);
    await send(topic, [shipped(order.id, 'shp-redeliver')]);
    await waitFor(async () => (await inboxRows(order.id)).length === 1, { timeoutMs: 10000 });
    await first.stop();
    running.pop();
    // As if the offset commit never happened: put the group back before the message.
    const admin = kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => ({
      partition: p.partition,
      offset: '0',
    }));
    await admin.setOffsets({ groupId: group, topic, partitions });
    await admin.disconnect();

    const metrics = createMetrics({ defaults: false });
    await start(config, metrics);
    await waitFor(
      async () =>
        (await metrics.shippingMessages.get()).values.some((v) => v.labels.outcome === 'duplicate'),
      { timeoutMs: 10000 },
    );
    expect(await inboxRows(order.id)).to.have.length(1);
    const outbox = await db.pool.query(
      "select 1 from outbox where order_id = $1 and queue = 'inbox'",
      [order.id],
    );
    expect(outbox.rowCount).to.equal(1);
  });

  it('when Postgres is down for a while (a crash stop, then started again), then consumption waits and resumes without losing the message', async function () {
    this.timeout(120_000);
    // A server of the test's own, so stopping it disturbs no other test.
    const postgres = await startPrivatePostgres();
    const own = await createTestDatabase('consumer_outage', postgres.adminUrl);
    const fatal: Error[] = [];
    let consumer: RunningShippingConsumer | undefined;
    try {
      const topic = uniqueName('responses');
      const [first, second] = await Promise.all([
        insertOrder(own.db, { status: 'paid' }),
        insertOrder(own.db, { status: 'paid' }),
      ]);
      consumer = await startShippingConsumer(
        { ...configFor(topic), databaseUrl: own.url },
        {
          logger: silentLogger(),
          database: own,
          kafka,
          metrics: createMetrics({ defaults: false }),
          consumer: FAST_CONSUMER,
          onFatal: (err) => fatal.push(err),
        },
      );
      const taken = async (orderId: string) =>
        (await own.pool.query('select 1 from inbox where order_id = $1', [orderId])).rowCount;
      await send(topic, [shipped(first.id)]);
      await waitFor(async () => (await taken(first.id)) === 1, { timeoutMs: 15000 });

      await postgres.stop('immediate');
      await send(topic, [shipped(second.id, 'shp-outage')]);
      // The outage's length is the point, not a wait for something to happen.
      await sleep(OUTAGE_MS);
      await postgres.start();

      await waitFor(async () => (await taken(second.id)) === 1, { timeoutMs: 30000 });
      const dead = await own.pool.query('select 1 from dead_letters where topic = $1', [topic]);
      expect(dead.rowCount, 'messages dead-lettered').to.equal(0);
      expect(fatal, 'the consumer gave up').to.deep.equal([]);
    } finally {
      await consumer?.stop();
      await own.drop();
      await postgres.destroy();
    }
  });

  /**
   * Makes the pool fail the way a bug in our own code would (a TypeError thrown while a query is
   * made), for the queries `when` picks; counts them.
   */
  function forceBug(when: (text: string, params: unknown[]) => boolean) {
    const realQuery = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
    const hits = { count: 0 };
    sinon.stub(db.pool, 'query').callsFake(((...args: unknown[]) => {
      const config = args[0] as { text?: string } | string;
      const text = typeof config === 'string' ? config : (config?.text ?? '');
      if (when(text, (args[1] as unknown[] | undefined) ?? [])) {
        hits.count++;
        return Promise.reject(new TypeError("Cannot read properties of undefined (reading 'id')"));
      }
      return realQuery(...args);
    }) as typeof db.pool.query);
    return hits;
  }

  function capturedLogger() {
    const lines: Array<{ level: number; msg: string; err?: { name: string } }> = [];
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as (typeof lines)[number]);
    });
    return { logger: createLogger({ name: 'consumer-test', level: 'warn', out }), lines };
  }

  it('when taking a message in hits a bug, then it is dead-lettered at once naming the bug, logged as an error, and the partition moves on', async () => {
    const topic = uniqueName('responses');
    const [poisoned, next] = await Promise.all([
      insertOrder(db.db, { status: 'paid' }),
      insertOrder(db.db, { status: 'paid' }),
    ]);
    const hits = forceBug(
      (text, params) => text.includes('"orders"') && params.includes(poisoned.id),
    );
    const metrics = createMetrics({ defaults: false });
    const { logger, lines } = capturedLogger();
    await start(configFor(topic), metrics, { logger });
    const bad = shipped(poisoned.id, 'shp-bug');
    // One key: one partition, the poisoned message first.
    await send(topic, [bad, shipped(next.id, 'shp-after-bug')], 'one-partition');

    await waitFor(async () => (await inboxRows(next.id)).length === 1, { timeoutMs: 10000 });
    expect(hits.count, 'the bug is not retried').to.equal(1);
    expect(await inboxRows(poisoned.id)).to.have.length(0);
    const letters = await deadLetters(topic);
    expect(letters).to.have.length(1);
    expect(letters[0].reason).to.match(/^not taken in, a bug: TypeError: Cannot read properties/);
    expect(JSON.parse(letters[0].value)).to.deep.equal(bad);
    const byOutcome = Object.fromEntries(
      (await metrics.shippingMessages.get()).values.map((v) => [v.labels.outcome, v.value]),
    );
    expect(byOutcome).to.deep.equal({ dead_lettered: 1, recorded: 1 });
    const logged = lines.find((l) => l.msg.startsWith('bug while taking a shipping message in'));
    expect(logged?.level, 'logged at error level').to.equal(50);
    expect(logged?.err?.name).to.equal('TypeError');
  });

  it('when a bug also keeps the message from its dead letter, then onFatal is told, the offset stays, and after the fix it is taken in', async () => {
    const topic = uniqueName('responses');
    const group = uniqueName('group');
    const order = await insertOrder(db.db, { status: 'paid' });
    const hits = forceBug(
      (text, params) =>
        (text.includes('"orders"') && params.includes(order.id)) || text.includes('dead_letters'),
    );
    let fatal!: (err: Error) => void;
    const fatalCalled = new Promise<Error>((resolve) => (fatal = resolve));
    const config = configFor(topic, 'unused', group);
    await start(config, undefined, { onFatal: (err) => fatal(err) });
    await send(topic, [shipped(order.id, 'shp-fatal')]);

    const err = await fatalCalled;
    expect(err).to.be.instanceOf(TypeError);
    expect(hits.count).to.be.at.least(2);
    await running.pop()!.stop();
    const admin = kafka.admin();
    await admin.connect();
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    await admin.disconnect();
    expect(
      offsets!.partitions.every((p) => p.offset === '-1'),
      'no offset committed',
    ).to.equal(true);
    sinon.restore();
    expect(await deadLetters(topic)).to.have.length(0);

    // The fix deployed and the process restarted: the message was not lost.
    await start(config);
    await waitFor(async () => (await inboxRows(order.id)).length === 1, { timeoutMs: 10000 });
  });

  it('when a message keeps failing with an error of no known kind, then its partition shows as held, readiness turns red past KAFKA_HOLD_ALERT_AFTER_MS without the error, and both clear once it is taken in', async () => {
    const topic = uniqueName('responses');
    const order = await insertOrder(db.db, { status: 'paid' });
    // An error classifyFailure cannot name is retried; its text must not reach the answer.
    const realQuery = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
    let failing = true;
    const hits = { count: 0 };
    sinon.stub(db.pool, 'query').callsFake(((...args: unknown[]) => {
      const config = args[0] as { text?: string } | string;
      const text = typeof config === 'string' ? config : (config?.text ?? '');
      const params = (args[1] as unknown[] | undefined) ?? [];
      if (failing && text.includes('"orders"') && params.includes(order.id)) {
        hits.count++;
        return Promise.reject(new Error('mystery at postgres://app:hunter2@10.0.0.7'));
      }
      return realQuery(...args);
    }) as typeof db.pool.query);
    const bound = 3000;
    const base = configFor(topic);
    const metrics = createMetrics({ defaults: false });
    const consumer = await start(
      { ...base, kafka: { ...base.kafka, holdAlertAfterMs: bound } },
      metrics,
    );
    const held = async () =>
      (await metrics.registry.getSingleMetric('shipping_consumer_held_seconds')!.get()).values;
    const readiness = async () =>
      readinessAnswer(await runChecks(consumer.readiness, silentLogger()));
    await send(topic, [shipped(order.id, 'shp-held')]);

    await waitFor(async () => (await held()).some((v) => v.value > 0), {
      timeoutMs: 10000,
      what: 'the gauge to show the hold',
    });
    const early = await readiness();
    expect(early.status, 'held, not yet past the bound').to.equal(200);
    await waitFor(async () => (await readiness()).status === 503, {
      timeoutMs: 15000,
      what: 'readiness to turn red',
    });
    const red = await readiness();
    expect(red.data.checks.kafka).to.equal('ok');
    const holding = (await held()).filter((v) => v.value > 0);
    expect(holding, 'one partition held').to.have.length(1);
    expect(holding[0]!.value).to.be.greaterThan(bound / 1000);
    const partition = holding[0]!.labels.partition;
    expect(red.data.checks.partitions).to.match(
      new RegExp(
        `^down: retrying a message past KAFKA_HOLD_ALERT_AFTER_MS \\(3000 ms\\): partition ${partition} offset 0 for \\d+ s$`,
      ),
    );
    expect(JSON.stringify(red)).not.to.match(/mystery|hunter2/);
    expect(hits.count, 'retried, not given up').to.be.at.least(2);
    expect(await inboxRows(order.id)).to.have.length(0);

    failing = false;
    await waitFor(async () => (await inboxRows(order.id)).length === 1, { timeoutMs: 15000 });
    await waitFor(async () => (await held()).every((v) => v.value === 0), {
      timeoutMs: 5000,
      what: 'the gauge back to 0',
    });
    expect((await held()).map((v) => v.labels.partition)).to.include(partition);
    expect((await readiness()).status).to.equal(200);
    expect(await deadLetters(topic)).to.have.length(0);
  });

  /** Spellings of `id` that joi's guid() takes: Postgres refuses the first three, takes the rest. */
  const oddForms = (id: string) => [
    id.replaceAll('-', ':'),
    `[${id}]`,
    `(${id})`,
    `{${id}}`,
    id.replaceAll('-', ''),
  ];

  it('when ids in forms Postgres refuses come on every partition between real responses, then each odd one is a dead letter naming order_id and every real one is taken in', async () => {
    const topic = uniqueName('responses');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    const metrics = createMetrics({ defaults: false });
    const { logger, lines } = capturedLogger();
    await start(configFor(topic), metrics, { logger });
    const orders = await Promise.all(
      Array.from({ length: 6 }, () => insertOrder(db.db, { status: 'paid' })),
    );
    // Per partition: each odd form of a real order's id (the colon, bracket and paren
    // forms first), each followed by a real response; the odd ones claim another order shipped.
    let odd = 0;
    for (const partition of [0, 1, 2]) {
      const [real, other] = [orders[2 * partition]!, orders[2 * partition + 1]!];
      const messages = oddForms(other.id).flatMap((form) => {
        odd++;
        return [
          { partition, value: JSON.stringify(shipped(form as string, 'shp-odd')) },
          { partition, value: JSON.stringify(shipped(real.id)) },
        ];
      });
      messages.push({ partition, value: JSON.stringify(shipped(other.id, 'shp-real')) });
      await producer.send({ topic, messages });
    }

    await waitFor(
      async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          "select count(distinct order_id)::int as n from inbox where source = 'shipping' and order_id = any($1)",
          [orders.map((o) => o.id)],
        );
        return rows[0]!.n === orders.length;
      },
      { timeoutMs: 20000, what: 'every real response behind the odd ones' },
    );
    await waitFor(async () => (await deadLetters(topic)).length === odd, { timeoutMs: 10000 });
    const letters = await deadLetters(topic);
    for (const l of letters) {
      expect(l.reason).to.match(/^invalid: "order_id" must be a UUID in the canonical 8-4-4-4-12/);
    }
    // None of the odd forms was taken in for the order it spells: each has its one real response.
    for (let p = 0; p < 3; p++) {
      const other = orders[2 * p + 1]!;
      const rows = await inboxRows(other.id);
      expect(rows.map((r) => r.payload.shipment_id)).to.deep.equal(['shp-real']);
    }
    expect(lines.filter((l) => /retrying/.test(l.msg))).to.deep.equal([]);
  });

  it('when a message passes validation but Postgres refuses its data (22xxx), then it is dead-lettered at once with the SQLSTATE and the partition moves on', async () => {
    const topic = uniqueName('responses');
    const [refusedOrder, next] = await Promise.all([
      insertOrder(db.db, { status: 'paid' }),
      insertOrder(db.db, { status: 'paid' }),
    ]);
    // jsonb refuses NUL (22P05); the parser looks for it 32 levels deep, so this one is only
    // found by Postgres, when the inbox row is written.
    let deep: unknown = 'nul\u0000here';
    for (let i = 0; i < 40; i++) deep = { deeper: deep };
    const bad = { ...shipped(refusedOrder.id, 'shp-deep'), extra: deep };
    const { logger, lines } = capturedLogger();
    const metrics = createMetrics({ defaults: false });
    await start(configFor(topic), metrics, { logger });
    await send(topic, [bad, shipped(next.id, 'shp-after-deep')], 'one-partition');

    await waitFor(async () => (await inboxRows(next.id)).length === 1, { timeoutMs: 10000 });
    expect(await inboxRows(refusedOrder.id)).to.have.length(0);
    const letters = await deadLetters(topic);
    expect(letters).to.have.length(1);
    expect(letters[0].reason).to.match(/^not taken in, refused by Postgres \(SQLSTATE 22P05\)/);
    expect(JSON.parse(letters[0].value)).to.deep.equal(bad);
    expect(lines.filter((l) => /retrying/.test(l.msg))).to.deep.equal([]);
    const byOutcome = Object.fromEntries(
      (await metrics.shippingMessages.get()).values.map((v) => [v.labels.outcome, v.value]),
    );
    expect(byOutcome).to.deep.equal({ dead_lettered: 1, recorded: 1 });
  });

  it('when the dead letter of a refused message cannot be written with its value, then its position and reason are kept and the partition moves on', async () => {
    const topic = uniqueName('responses');
    const [poisoned, next] = await Promise.all([
      insertOrder(db.db, { status: 'paid' }),
      insertOrder(db.db, { status: 'paid' }),
    ]);
    // Postgres refuses the message's data, then its dead letter while the letter carries the value.
    const realQuery = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
    const refusedWith = (code: string) =>
      Object.assign(new Error(`refused (${code})`), { code, severity: 'ERROR' });
    sinon.stub(db.pool, 'query').callsFake(((...args: unknown[]) => {
      const config = args[0] as { text?: string } | string;
      const text = typeof config === 'string' ? config : (config?.text ?? '');
      const params = (args[1] as unknown[] | undefined) ?? [];
      if (text.includes('"orders"') && params.includes(poisoned.id))
        return Promise.reject(refusedWith('22P02'));
      if (text.includes('dead_letters') && params.some((p) => String(p).includes('shp-poison')))
        return Promise.reject(refusedWith('22021'));
      return realQuery(...args);
    }) as typeof db.pool.query);
    let fatal: Error | undefined;
    await start(configFor(topic), undefined, { onFatal: (err) => (fatal = err) });
    await send(
      topic,
      [shipped(poisoned.id, 'shp-poison'), shipped(next.id, 'shp-after-poison')],
      'one-partition',
    );

    await waitFor(async () => (await inboxRows(next.id)).length === 1, { timeoutMs: 10000 });
    const letters = await deadLetters(topic);
    expect(letters).to.have.length(1);
    expect(letters[0].value).to.equal(null);
    expect(letters[0].reason).to.match(
      /^not taken in, refused by Postgres \(SQLSTATE 22P02\).*; key and value not kept \(refused by Postgres \(SQLSTATE 22021\).*read them from Kafka at this offset$/,
    );
    expect(fatal).to.equal(undefined);
  });

  it('when two consumers share the group, then each response is applied once', async () => {
    const topic = uniqueName('responses');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    await admin.disconnect();
    const config = configFor(topic);
    const metricsA = createMetrics({ defaults: false });
    const metricsB = createMetrics({ defaults: false });
    await start(config, metricsA);
    await start(config, metricsB);
    const orders = await Promise.all(
      Array.from({ length: 30 }, () => insertOrder(db.db, { status: 'paid' })),
    );
    for (const o of orders) await send(topic, [shipped(o.id)], o.id);

    const total = async () => {
      const a = (await metricsA.shippingMessages.get()).values.reduce((n, v) => n + v.value, 0);
      const b = (await metricsB.shippingMessages.get()).values.reduce((n, v) => n + v.value, 0);
      return a + b;
    };
    await waitFor(async () => (await total()) >= 30, { timeoutMs: 15000 });
    const rows = await db.pool.query(
      "select order_id, count(*)::int as n from inbox where source = 'shipping' and order_id = any($1) group by order_id",
      [orders.map((o) => o.id)],
    );
    expect(rows.rowCount).to.equal(30);
    expect(rows.rows.every((r) => r.n === 1)).to.equal(true);
    expect(await total()).to.equal(30);
  });
});
