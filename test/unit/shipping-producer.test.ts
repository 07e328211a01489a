import { expect } from 'chai';
import type { Kafka, ProducerRecord } from 'kafkajs';
import { loadConfig } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import type { ShippingRequestPayload } from '../../db/outbox/events.js';
import { createShippingProducer } from '../../lib/kafka/shipping-producer.js';

/**
 * The shipping producer over a stand-in kafkajs client: what it asks of kafkajs's idempotent
 * producer (one produce at a time, a new producer after a failed one). The Kafka side of it is
 * proved on Apache Kafka in test/e2e/kafka-leader-failover.test.ts.
 */
interface FakeProducer {
  sent: string[];
  connected: boolean;
  disconnected: boolean;
}

function fakeKafka(opts: { failSends?: number } = {}) {
  let failuresLeft = opts.failSends ?? 0;
  let inFlight = 0;
  const state = { maxInFlight: 0, producers: [] as FakeProducer[] };
  const kafka = {
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      listTopics: async () => ['shipping.requests'],
      describeCluster: async () => ({ brokers: [], controller: null, clusterId: 'fake' }),
    }),
    producer: () => {
      const record: FakeProducer = { sent: [], connected: false, disconnected: false };
      state.producers.push(record);
      return {
        events: { DISCONNECT: 'producer.disconnect' },
        on: () => () => undefined,
        connect: async () => {
          record.connected = true;
        },
        disconnect: async () => {
          record.disconnected = true;
        },
        send: async (r: ProducerRecord) => {
          inFlight++;
          state.maxInFlight = Math.max(state.maxInFlight, inFlight);
          // Long enough for any other send to start, were sends not kept apart.
          await new Promise((resolve) => setTimeout(resolve, 5));
          inFlight--;
          if (failuresLeft > 0) {
            failuresLeft--;
            throw new Error('Connection closed');
          }
          record.sent.push(r.messages[0]!.key as string);
          return [];
        },
      };
    },
  };
  // Only what createShippingProducer uses of kafkajs's client.
  return { kafka: kafka as unknown as Kafka, state };
}

const request = (orderId: string): ShippingRequestPayload => ({
  event_type: 'order.paid',
  order_id: orderId,
  item_id: 'item',
  quantity: 1,
  idempotency_key: `key-${orderId}`,
});

describe('shipping producer (stand-in kafkajs)', () => {
  it('when several requests are sent at once, then one produce request is in flight at a time, in the order asked', async () => {
    const { kafka, state } = fakeKafka();
    const producer = createShippingProducer(kafka, loadConfig({}).kafka, silentLogger());

    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => producer.send(request(id))));

    expect(state.maxInFlight).to.equal(1);
    expect(state.producers).to.have.length(1);
    expect(state.producers[0]!.sent).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
  });

  it('when a send fails, then it fails its job and the next request goes through a new idempotent producer', async () => {
    const { kafka, state } = fakeKafka({ failSends: 1 });
    const producer = createShippingProducer(kafka, loadConfig({}).kafka, silentLogger());

    const results = await Promise.allSettled(['a', 'b'].map((id) => producer.send(request(id))));

    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'fulfilled']);
    expect(state.producers).to.have.length(2);
    expect(state.producers[0]!.disconnected).to.equal(true);
    expect(state.producers[1]!.connected).to.equal(true);
    expect(state.producers[1]!.sent).to.deep.equal(['b']);
  });

  it('when the producer is not idempotent, then a failed send keeps it', async () => {
    const { kafka, state } = fakeKafka({ failSends: 1 });
    const cfg = loadConfig({ KAFKA_IDEMPOTENT: 'false' }).kafka;
    const producer = createShippingProducer(kafka, cfg, silentLogger());

    const results = await Promise.allSettled(['a', 'b'].map((id) => producer.send(request(id))));

    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'fulfilled']);
    expect(state.producers).to.have.length(1);
    expect(state.producers[0]!.sent).to.deep.equal(['b']);
  });
});
