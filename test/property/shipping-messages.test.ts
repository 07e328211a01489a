import { expect } from 'chai';
import bunyan from 'bunyan';
import fc from 'fast-check';
import type { Kafka, Producer } from 'kafkajs';
import { Writable } from 'node:stream';
import {
  startShippingConsumer,
  type RunningShippingConsumer,
} from '../../jobs/start-shipping-consumer.js';
import { SHIPPING_RESULT_EVENTS } from '../../lib/kafka/parse-shipping-response.js';
import { createMetrics, type Metrics } from '../../lib/platform/metrics.js';
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
import {
  anyText,
  neverHangs,
  nonString,
  notAUuid,
  rowCounts,
  uuidLikeOf,
} from '../support/properties.js';
import { waitFor } from '../../scripts/testkit/wait.js';

const OUTCOMES = ['recorded', 'duplicate', 'skipped', 'dead_lettered'] as const;
/** A key no shipping response has, holding text Postgres may not be able to store. */
const anyKey = 'extra\u0000key';

interface Garbage {
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * Messages a broken or hostile producer might put on the responses topic: raw bytes, text, any
 * JSON, and shipping responses with any field wrong, some naming an order that exists.
 */
function garbage(orderIds: string[]): fc.Arbitrary<Garbage> {
  const text = (s: string) => Buffer.from(s, 'utf8');
  const field = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const response = fc.record(
    {
      event_type: fc.oneof(
        fc.constantFrom(...SHIPPING_RESULT_EVENTS, 'order.paid', 'order.cancel_requested'),
        anyText(20),
        nonString,
      ),
      order_id: fc.oneof(
        fc.constantFrom(...orderIds),
        fc.uuid(),
        notAUuid,
        uuidLikeOf(fc.constantFrom(...orderIds)),
      ),
      shipment_id: field(
        fc.oneof(anyText(30), fc.string({ minLength: 201, maxLength: 220 }), nonString),
      ),
      item_id: field(fc.oneof(fc.uuid(), notAUuid)),
      quantity: field(fc.oneof(fc.integer(), nonString)),
      reason: field(anyText(30)),
      [anyKey]: field(anyText(10)),
    },
    { requiredKeys: ['event_type', 'order_id'] },
  );
  return fc.record({
    key: fc.option(
      fc.oneof(fc.uint8Array({ maxLength: 24 }).map(Buffer.from), anyText(10).map(text)),
      { nil: null },
    ),
    value: fc.oneof(
      fc.constant(null),
      fc.uint8Array({ maxLength: 80 }).map(Buffer.from),
      anyText(80).map(text),
      fc.jsonValue().map((v) => text(JSON.stringify(v))),
      response.map((r) => text(JSON.stringify(r))),
    ),
  });
}

describe('shipping consumer with generated garbage messages (fast-check)', function () {
  this.timeout(240000);
  let db: TestDatabase;
  let broker: TestBroker;
  let kafka: Kafka;
  let producer: Producer;
  let consumer: RunningShippingConsumer;
  let metrics: Metrics;
  const topic = uniqueName('garbage-responses');
  const logged: { level: number; msg: string; err?: { message?: string } }[] = [];

  before(async () => {
    db = await createTestDatabase('prop_kafka');
    broker = await sharedTestBroker();
    kafka = testKafka(broker);
    // One partition: messages are taken in the order sent, so the sentinel comes last.
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    producer = kafka.producer();
    await producer.connect();
    metrics = createMetrics({ defaults: false });
    const sink = new Writable({
      objectMode: true,
      write: (rec: { level: number; msg: string; err?: { message?: string } }, _e, done) => {
        logged.push({ level: rec.level, msg: rec.msg, err: { message: rec.err?.message } });
        done();
      },
    });
    const logger = bunyan.createLogger({
      name: 'prop',
      streams: [{ type: 'raw', level: 'warn', stream: sink }],
    });
    consumer = await startShippingConsumer(
      testConfig({
        DATABASE_URL: db.url,
        KAFKA_BOOTSTRAP_SERVERS: broker.address,
        KAFKA_SHIPPING_RESPONSES_TOPIC: topic,
        KAFKA_SHIPPING_REQUESTS_TOPIC: uniqueName('unused-requests'),
        KAFKA_GROUP_ID: uniqueName('group'),
        SHUTDOWN_TIMEOUT_MS: '5000',
      }),
      { logger, database: db, kafka, metrics, consumer: FAST_CONSUMER },
    );
  });
  after(async () => {
    await consumer?.stop();
    await producer?.disconnect();
    await db?.drop();
  });

  /**
   * Waits until the order's response is in the inbox. A message that makes the consumer retry
   * holds the partition for good: that fails at once, so the counterexample is that message and
   * not a later one stuck behind it.
   */
  async function untilTakenIn(orderId: string, what: string): Promise<void> {
    await waitFor(
      async () => {
        const held = logged.find((l) => /retrying/.test(l.msg));
        if (held) throw new Error(`the consumer is retrying: ${JSON.stringify(held)}`);
        const taken = await db.pool.query('select 1 from inbox where order_id = $1', [orderId]);
        return taken.rowCount === 1;
      },
      { timeoutMs: 20000, intervalMs: 50, what },
    );
  }

  async function outcomes(): Promise<Record<(typeof OUTCOMES)[number], number>> {
    const { values } = await metrics.shippingMessages.get();
    const of = (o: string) => values.find((v) => v.labels.outcome === o)?.value ?? 0;
    return {
      recorded: of('recorded'),
      duplicate: of('duplicate'),
      skipped: of('skipped'),
      dead_lettered: of('dead_lettered'),
    };
  }

  it('when a message holds NUL bytes, then it is dead-lettered with U+FFFD in their place, saying so', async () => {
    const sentinel = await insertOrder(db.db, { status: 'paid' });
    await producer.send({
      topic,
      messages: [
        { key: Buffer.from([0x6b, 0x00]), value: Buffer.from('nul\u0000here', 'utf8') },
        {
          key: null,
          value: JSON.stringify({
            event_type: 'order.shipped',
            order_id: sentinel.id,
            shipment_id: 's',
          }),
        },
      ],
    });
    await waitFor(
      async () =>
        (await db.pool.query('select 1 from inbox where order_id = $1', [sentinel.id])).rowCount ===
        1,
      { timeoutMs: 20000, what: 'the message after the NUL one' },
    );
    const { rows } = await db.pool.query<{ key: string; value: string; reason: string }>(
      "select key, value, reason from dead_letters where value like 'nul%'",
    );
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ key: 'k\ufffd', value: 'nul\ufffdhere' });
    expect(rows[0]!.reason).to.match(
      /^not JSON: .* \(NUL or unpaired surrogates replaced by U\+FFFD\)$/,
    );
  });

  it('when any garbage comes, then each message is recorded, skipped or dead-lettered once, and the partition never stalls', async () => {
    // Orders in every state for the garbage to name.
    const targets = await Promise.all(
      (['new', 'paid', 'shipped', 'cancelled'] as const).map((status) =>
        insertOrder(db.db, { status }),
      ),
    );
    const counts = async () => ({
      ...(await outcomes()),
      ...(await rowCounts(db.pool, ['dead_letters', 'inbox', 'outbox'])),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(garbage(targets.map((t) => t.id)), { minLength: 1, maxLength: 8 }),
        async (messages) => {
          const sentinel = await insertOrder(db.db, { status: 'paid' });
          const before = await counts();
          await producer.send({
            topic,
            messages: [
              ...messages,
              {
                key: null,
                value: JSON.stringify({
                  event_type: 'order.shipped',
                  order_id: sentinel.id,
                  shipment_id: 'sentinel',
                }),
              },
            ],
          });
          // Sent last on a single partition: once it is in, every message before it was handled.
          await untilTakenIn(sentinel.id, 'the sentinel after the garbage');
          const after = await counts();
          const delta = (k: keyof typeof after) => after[k] - before[k];
          expect(OUTCOMES.reduce((n, o) => n + delta(o), 0)).to.equal(messages.length + 1);
          expect(delta('dead_letters')).to.equal(delta('dead_lettered'));
          expect(delta('inbox')).to.equal(delta('recorded'));
          expect(delta('outbox')).to.equal(delta('recorded'));
          // Never held: no message made the consumer retry (a write that can never succeed).
          expect(logged.filter((l) => /retrying/.test(l.msg))).to.deep.equal([]);
        },
      ),
      // The consumer's state carries over between runs: shrinking after a failure would blame
      // whatever came next, so the first failing input is the counterexample.
      { ...neverHangs(60, 30_000), endOnFailure: true },
    );
    const letters = await db.pool.query<{ reason: string }>('select reason from dead_letters');
    for (const { reason } of letters.rows) expect(reason).to.be.a('string').that.is.not.empty;
  });
  it('when well-formed responses name real orders by ids spelt in other forms, then each is dead-lettered naming order_id, and the partition never stalls', async () => {
    const targets = await Promise.all(
      Array.from({ length: 3 }, () => insertOrder(db.db, { status: 'paid' })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            event_type: fc.constantFrom(...SHIPPING_RESULT_EVENTS),
            order_id: uuidLikeOf(fc.constantFrom(...targets.map((t) => t.id))),
            shipment_id: fc.constant('shp-odd'),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        async (responses) => {
          const sentinel = await insertOrder(db.db, { status: 'paid' });
          const before = await rowCounts(db.pool, ['dead_letters', 'inbox']);
          await producer.send({
            topic,
            messages: [...responses, { ...responses[0]!, order_id: sentinel.id }].map((r) => ({
              value: JSON.stringify(r),
            })),
          });
          await untilTakenIn(sentinel.id, 'the sentinel after the odd ids');
          const after = await rowCounts(db.pool, ['dead_letters', 'inbox']);
          expect(after.dead_letters - before.dead_letters).to.equal(responses.length);
          expect(after.inbox - before.inbox, 'only the sentinel taken in').to.equal(1);
        },
      ),
      { ...neverHangs(25, 30_000), endOnFailure: true },
    );
    const { rows } = await db.pool.query<{ reason: string }>(
      "select reason from dead_letters where value like '%shp-odd%'",
    );
    expect(rows.length).to.be.greaterThan(0);
    for (const { reason } of rows) expect(reason).to.match(/^invalid: "order_id" must be a UUID/);
  });
});
