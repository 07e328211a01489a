import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { expectSettled } from './support/expect.js';
import { unaccepted, type AcceptedOrder } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** How often a round of odd messages goes to every partition while orders flow. */
const ROUND_MS = 1000;
/** Odd messages per partition per round. */
const PER_PARTITION = 3;

type Expected = 'dead-letter' | 'skip';

/**
 * Messages a broken or confused Shipping might send, each about a real accepted order where it
 * names one: ids in the spellings joi's guid() takes but Postgres's uuid refuses (colons,
 * brackets, parentheses) or takes (braces, no hyphens), claiming the opposite of what Shipping
 * will answer (so one taken in would show in the ledger as a wrong path); text that is not JSON,
 * NUL bytes, a response missing its shipment id, an unknown order; and messages that are not
 * shipping results at all (skipped).
 */
const ODD: Array<[Expected, (order: AcceptedOrder) => Message]> = [
  ...(
    [
      (id: string) => id.replaceAll('-', ':'),
      (id: string) => `[${id}]`,
      (id: string) => `(${id})`,
      (id: string) => `{${id}}`,
      (id: string) => id.replaceAll('-', ''),
    ] as const
  ).map(
    (spell) =>
      [
        'dead-letter',
        (order: AcceptedOrder) => ({
          value: JSON.stringify(
            order.expect === 'shipped'
              ? { event_type: 'shipping.failed', order_id: spell(order.id), reason: 'odd' }
              : { event_type: 'order.shipped', order_id: spell(order.id), shipment_id: 'odd' },
          ),
        }),
      ] as [Expected, (order: AcceptedOrder) => Message],
  ),
  ['dead-letter', () => ({ value: 'not json {' })],
  ['dead-letter', () => ({ key: Buffer.from([0x6b, 0]), value: Buffer.from('nul\u0000here') })],
  [
    'dead-letter',
    (order) => ({ value: JSON.stringify({ event_type: 'order.shipped', order_id: order.id }) }),
  ],
  [
    'dead-letter',
    () => ({
      value: JSON.stringify({
        event_type: 'order.shipped',
        order_id: randomUUID().toUpperCase(),
        shipment_id: 'odd',
      }),
    }),
  ],
  [
    'skip',
    (order) => ({
      value: JSON.stringify({
        event_type: 'order.paid',
        order_id: order.id,
        item_id: order.body.item_id,
        quantity: order.body.quantity,
        idempotency_key: randomUUID(),
      }),
    }),
  ],
  [
    'skip',
    (order) => ({ value: JSON.stringify({ event_type: 'order.weighed', order_id: order.id }) }),
  ],
];

const oddMessages = scenario({
  id: '8',
  title: '8. malformed and odd-form shipping messages on every partition',
  expectedSeconds: 55,
  async run(ctx) {
    const sys = await startFaultSystem(ctx);
    const topic = sys.kafka.responsesTopic;
    const kafka = new Kafka({
      clientId: 'faults-odd-messages',
      brokers: sys.kafka.brokers,
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    ctx.defer(() => admin.disconnect());
    const producer = kafka.producer();
    await producer.connect();
    ctx.defer(() => producer.disconnect());
    // The consumer created the topic before it logged ready.
    const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => p.partition);

    const load = sys.send({ count: 200, perSecond: 8 });
    const sent: Record<Expected, number> = { 'dead-letter': 0, skip: 0 };
    const oddOn = new Map(partitions.map((p) => [p, 0]));
    let loadDone = false;
    void load.done.then(() => (loadDone = true));
    // Rounds while orders flow, so odd messages sit between real responses on every partition.
    while (!loadDone) {
      await sleep(ROUND_MS);
      const orders = load.accepted;
      if (orders.length === 0) continue;
      const messages: Array<Message & { partition: number }> = [];
      for (const partition of partitions) {
        for (let i = 0; i < PER_PARTITION; i++) {
          const [expected, make] = ODD[Math.floor(ctx.random() * ODD.length)]!;
          const order = orders[Math.floor(ctx.random() * orders.length)]!;
          messages.push({ ...make(order), partition });
          sent[expected]++;
          oddOn.set(partition, oddOn.get(partition)! + 1);
        }
      }
      await producer.send({ topic, acks: -1, messages });
    }
    ctx.log(
      `${sent['dead-letter'] + sent.skip} odd messages sent on ${partitions.length} partitions`,
    );

    const ledger = await sys.settle(load, 240_000);
    const deadLetters = async () =>
      (
        await sys.db.pool.query<{ n: number }>(
          'select count(*)::int as n from dead_letters where topic = $1',
          [topic],
        )
      ).rows[0]!.n;
    // The ledger settles on the real responses; the odd ones after the last of them are quick.
    const settleBy = Date.now() + 30_000;
    while ((await deadLetters()) < sent['dead-letter'] && Date.now() < settleBy) await sleep(500);
    const ends = await admin.fetchTopicOffsets(topic);
    const log = await readFile(path.join(ctx.dir, 'service.log'), 'utf8');
    return {
      ledger,
      facts: {
        ...unaccepted(load),
        partitions: partitions.length,
        // What else each partition holds: Shipping's real responses, which the odd ones sat between.
        realResponsesPerPartition: ends
          .map((p) => `${p.partition}:${Number(p.high) - oddOn.get(p.partition)!}`)
          .join(' '),
        fewestRealResponsesOnAPartition: Math.min(
          ...ends.map((p) => Number(p.high) - oddOn.get(p.partition)!),
        ),
        oddSent: sent['dead-letter'] + sent.skip,
        deadLettersExpected: sent['dead-letter'],
        deadLetters: await deadLetters(),
        skippedSent: sent.skip,
        // Postgres stays up here: a consumer retrying is a message holding its partition.
        consumerRetries: log
          .split('\n')
          .filter(
            (l) => l.startsWith('[consumer') && l.includes('could not take shipping message in'),
          ).length,
      },
    };
  },
});

describe('fault scenario 8: malformed and odd-form shipping messages', function () {
  this.timeout(15 * 60_000);

  it('when malformed messages and ids Postgres refuses come between real responses on every partition, then each is a dead letter or skipped, nothing holds a partition, and the ledger balances', async () => {
    const outcome = await oddMessages.outcome();
    const { facts } = outcome;

    expect(facts.partitions).to.be.greaterThan(1);
    expect(facts.fewestRealResponsesOnAPartition).to.be.greaterThan(0);
    expect(facts.deadLettersExpected).to.be.greaterThan(0);
    expect(facts.deadLetters).to.equal(facts.deadLettersExpected);
    expect(facts.consumerRetries, 'the consumer retried a message').to.equal(0);
    expectSettled(outcome);
  });
});
