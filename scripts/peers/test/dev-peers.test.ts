import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { Webhook } from 'standardwebhooks';
import { silentLogger } from '../../../lib/platform/logger.js';
import { changeWaiters, listen, readJson, sendJson, type StartedServer } from '../http-server.js';
import { startNotificationsPeer, type NotificationsPeer } from '../notifications.js';
import { startPeers } from '../index.js';
import { startPaymentsPeer, type PaymentsPeer } from '../payments.js';
import { startShippingPeer, type ShippingAnswer, type ShippingPeer } from '../shipping.js';
import { waitFor } from '../../testkit/wait.js';
import { sharedTestBroker, testKafka, uniqueName, type TestBroker } from '../../testkit/kafka.js';

interface ReceivedCallback {
  headers: http.IncomingHttpHeaders;
  raw: string;
  // The callback's fields are checked one by one below.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** Our stand-in for the service's webhook: records each callback, answers as told per order. */
interface CallbackReceiver extends StartedServer {
  received: ReceivedCallback[];
  /** Statuses to answer for an order's callbacks, in turn; 200 once they run out. */
  answers: Map<string, number[]>;
  receivedFor(orderId: string): ReceivedCallback[];
}

async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const answers = new Map<string, number[]>();
  const server = await listen((req, res) => {
    void readJson(req).then(({ raw, json }) => {
      const callback = { headers: req.headers, raw, json } as ReceivedCallback;
      received.push(callback);
      const status = answers.get(callback.json?.order_id)?.shift() ?? 200;
      sendJson(res, status, {});
    });
  });
  return {
    ...server,
    received,
    answers,
    receivedFor: (orderId) => received.filter((c) => c.json?.order_id === orderId),
  };
}

async function postJson(url: string, body: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'peer-token' },
    body: JSON.stringify(body),
  });
  // Peer answers vary by endpoint; the tests check them field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function getJson(url: string) {
  const res = await fetch(url);
  // As above: the listing's shape is what each test asserts.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (await res.json()) as any };
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = await listen(() => undefined);
  await server.stop();
  return server.port;
}

/** Reads a topic from the beginning with its own group and keeps every message, as JSON. */
interface TopicReader {
  messages: Array<{ key: string; value: ShippingAnswer }>;
  for(orderId: string): ShippingAnswer[];
  until(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

async function readTopic(kafka: Kafka, topic: string): Promise<TopicReader> {
  const messages: TopicReader['messages'] = [];
  const waiters = changeWaiters();
  // A short fetch wait keeps stop() short: it waits for the fetch in flight.
  const consumer: Consumer = kafka.consumer({
    groupId: uniqueName('test-reader'),
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      messages.push({
        key: message.key?.toString() ?? '',
        value: JSON.parse(message.value?.toString() ?? 'null') as ShippingAnswer,
      });
      waiters.changed();
    },
  });
  return {
    messages,
    for: (orderId) => messages.filter((m) => m.key === orderId).map((m) => m.value),
    until: waiters.until,
    async stop() {
      waiters.cancel('reader stopped');
      await consumer.disconnect();
    },
  };
}

const shippingRequest = (overrides: Record<string, unknown> = {}) => ({
  event_type: 'order.paid',
  order_id: randomUUID(),
  item_id: randomUUID(),
  quantity: 1,
  idempotency_key: randomUUID(),
  ...overrides,
});

function verified(secret: string, callback: ReceivedCallback): unknown {
  return new Webhook(secret).verify(callback.raw, {
    'webhook-id': String(callback.headers['webhook-id']),
    'webhook-timestamp': String(callback.headers['webhook-timestamp']),
    'webhook-signature': String(callback.headers['webhook-signature']),
  });
}

describe('development peers', () => {
  describe('Payments', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    let receiver: CallbackReceiver;
    let payments: PaymentsPeer;

    before(async () => {
      receiver = await startCallbackReceiver();
      payments = await startPaymentsPeer({
        webhookSecret: secret,
        callbackDelayMs: 0,
        callbackRetry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 1000 },
        logger: silentLogger(),
      });
    });
    after(async () => {
      await payments?.stop();
      await receiver?.stop();
    });

    const paymentRequest = (overrides: Record<string, unknown> = {}) => ({
      order_id: randomUUID(),
      amount: '5.00',
      callback_url: `${receiver.url}/api/v1/orders/payment-callback`,
      idempotency_key: randomUUID(),
      ...overrides,
    });

    const settled = (orderId: string) =>
      payments.until(
        () => {
          const { callbacks } = payments.recorded({ order_id: orderId });
          return callbacks.length > 0 && callbacks.every((c) => c.delivery !== 'pending');
        },
        5000,
        `the callback of order ${orderId} to settle`,
      );

    describe('when a payment is requested', () => {
      it('then it answers 201 pending and calls back, signed the Standard Webhooks way, succeeded', async () => {
        const request = paymentRequest({ user_id: 'user-7' });

        const res = await postJson(`${payments.url}/api/payments`, request);

        expect(res.status).to.equal(201);
        expect(res.body).to.include({
          order_id: request.order_id,
          amount: '5.00',
          status: 'pending',
          idempotency_key: request.idempotency_key,
        });
        expect(res.body.id).to.be.a('string');
        expect(payments.lastApiKey).to.equal('peer-token');
        await settled(request.order_id);
        const [callback, ...more] = receiver.receivedFor(request.order_id);
        expect(more).to.have.length(0);
        expect(callback!.headers['webhook-id']).to.match(/^msg_/);
        expect(verified(secret, callback!)).to.deep.equal({
          id: res.body.id,
          user_id: 'user-7',
          order_id: request.order_id,
          amount: '5.00',
          status: 'succeeded',
          idempotency_key: request.idempotency_key,
          created_at: res.body.created_at,
        });
        expect(payments.recorded({ order_id: request.order_id }).callbacks[0]).to.include({
          delivery: 'delivered',
          http_status: 200,
          status: 'succeeded',
        });
      });
    });

    describe('when the amount ends in .13', () => {
      it('then the callback says failed', async () => {
        const request = paymentRequest({ amount: '26.13' });

        await postJson(payments.url, request);
        await settled(request.order_id);

        const [callback] = receiver.receivedFor(request.order_id);
        expect(callback!.json).to.include({ status: 'failed', amount: '26.13', user_id: null });
        expect(verified(secret, callback!)).to.be.an('object');
      });
    });

    describe('when the same idempotency key comes again', () => {
      it('then it answers the same payment, counts a duplicate, takes no second payment and calls back its outcome again', async () => {
        const request = paymentRequest({ amount: '7.13' });
        const first = await postJson(payments.url, request);
        await settled(request.order_id);
        const duplicatesBefore = payments.recorded().duplicates;

        const again = await postJson(payments.url, request);
        await payments.until(
          () => receiver.receivedFor(request.order_id).length === 2,
          5000,
          'the outcome called back again',
        );

        expect(again.status).to.equal(201);
        expect(again.body).to.deep.equal(first.body);
        expect(again.headers.get('idempotent-replayed')).to.equal('true');
        const recorded = payments.recorded({ order_id: request.order_id });
        expect(recorded.payments).to.have.length(1);
        expect(recorded.payments[0]).to.include({ id: first.body.id, duplicates: 1 });
        expect(recorded.duplicates).to.equal(duplicatesBefore + 1);
        // The same outcome (failed: cents 13) for the same payment, signed like the first.
        const [one, two] = receiver.receivedFor(request.order_id).map((c) => verified(secret, c));
        expect(two).to.deep.equal(one);
        expect(two).to.include({ id: first.body.id, status: 'failed' });
      });
    });

    describe('when the key is reused for another amount', () => {
      it('then it answers 422 and takes no second payment', async () => {
        const request = paymentRequest();
        await postJson(payments.url, request);

        const res = await postJson(payments.url, { ...request, amount: '6.00' });

        expect(res.status).to.equal(422);
        expect(payments.recorded({ order_id: request.order_id }).payments).to.have.length(1);
        expect(payments.recorded().conflicts).to.be.greaterThan(0);
      });
    });

    describe('when the body is bad', () => {
      it('then it answers 400 naming the problems, and counts it', async () => {
        const invalidBefore = payments.recorded().invalid;

        const res = await postJson(payments.url, { order_id: randomUUID(), amount: '1.234' });

        expect(res.status).to.equal(400);
        expect(res.body.detail.join(' '))
          .to.match(/amount/)
          .and.match(/callback_url/);
        expect(payments.recorded().invalid).to.equal(invalidBefore + 1);
      });
    });

    describe('when a refund of a payment it took is requested', () => {
      const refundOf = async (overrides: Record<string, unknown> = {}) => {
        const request = paymentRequest();
        const paid = await postJson(`${payments.url}/api/payments`, request);
        await settled(request.order_id);
        const refund = {
          payment_id: paid.body.id,
          order_id: request.order_id,
          amount: request.amount,
          reason: 'order cancelled: shipping failed',
          idempotency_key: randomUUID(),
          callback_url: request.callback_url,
          ...overrides,
        };
        return { request, paid: paid.body, refund };
      };

      it('then it answers 201 pending, calls back signed with refunded for that payment id under the refund key, and a repeat is counted on the refund and called back the same again', async () => {
        const { request, paid, refund } = await refundOf();

        const res = await postJson(`${payments.url}/api/payments/refunds`, refund);
        await payments.until(
          () => receiver.receivedFor(request.order_id).length === 2,
          5000,
          'the refund callback',
        );
        const again = await postJson(`${payments.url}/api/payments/refunds`, refund);
        await payments.until(
          () => receiver.receivedFor(request.order_id).length === 3,
          5000,
          'the refund outcome called back again',
        );

        expect(res.status).to.equal(201);
        expect(res.body).to.include({
          payment_id: paid.id,
          order_id: request.order_id,
          amount: '5.00',
          status: 'pending',
        });
        const callback = receiver.receivedFor(request.order_id)[1]!;
        expect(verified(secret, callback)).to.deep.include({
          id: paid.id,
          order_id: request.order_id,
          amount: '5.00',
          status: 'refunded',
          idempotency_key: refund.idempotency_key,
          refund_id: res.body.id,
        });
        expect(again.status).to.equal(201);
        expect(again.headers.get('idempotent-replayed')).to.equal('true');
        const recorded = payments.recorded({ order_id: request.order_id });
        expect(recorded.refunds).to.have.length(1);
        expect(recorded.refunds[0]).to.include({ id: res.body.id, duplicates: 1 });
        expect(recorded.callbacks.map((c) => c.status)).to.deep.equal([
          'succeeded',
          'refunded',
          'refunded',
        ]);
        const [, refunded, repeated] = receiver.receivedFor(request.order_id);
        expect(verified(secret, repeated!)).to.deep.equal(verified(secret, refunded!));
      });

      it('then GET /payments lists refunds per idempotency key, so they can be counted', async () => {
        const { request, refund } = await refundOf();
        await postJson(`${payments.url}/api/payments/refunds`, refund);

        const res = await getJson(`${payments.url}/payments?order_id=${request.order_id}`);

        expect(res.status).to.equal(200);
        expect(
          res.body.refunds.map((r: { idempotency_key: string }) => r.idempotency_key),
        ).to.deep.equal([refund.idempotency_key]);
      });

      it('then an unknown payment answers 404, and another order, too much money or a second refund of one payment answer 422, none refunded', async () => {
        const { request, refund } = await refundOf();
        const url = `${payments.url}/api/payments/refunds`;

        const unknown = await postJson(url, { ...refund, payment_id: randomUUID() });
        const otherOrder = await postJson(url, { ...refund, order_id: randomUUID() });
        const tooMuch = await postJson(url, { ...refund, amount: '5.01' });
        const first = await postJson(url, refund);
        const second = await postJson(url, { ...refund, idempotency_key: randomUUID() });

        expect([unknown.status, otherOrder.status, tooMuch.status]).to.deep.equal([404, 422, 422]);
        expect(first.status).to.equal(201);
        expect(second.status).to.equal(422);
        expect(second.body.detail).to.match(/already refunded/);
        expect(payments.recorded({ order_id: request.order_id }).refunds).to.have.length(1);
      });
    });

    describe('when callbacks are paused', () => {
      it('then none is sent until they are resumed, and then each is sent once', async () => {
        const request = paymentRequest();
        payments.pauseCallbacks();
        try {
          await postJson(payments.url, request);
          // The payment is recorded and its callback due, but held.
          await payments.until(
            () => payments.recorded({ order_id: request.order_id }).payments.length === 1,
          );
          expect(receiver.receivedFor(request.order_id)).to.have.length(0);
          expect(
            payments.recorded({ order_id: request.order_id }).callbacks[0]!.attempts,
          ).to.have.length(0);
        } finally {
          payments.resumeCallbacks();
        }
        await settled(request.order_id);
        expect(receiver.receivedFor(request.order_id)).to.have.length(1);
      });
    });

    describe('when the receiver answers 503 twice', () => {
      it('then the callback is retried, same webhook-id, until it answers 200', async () => {
        const request = paymentRequest();
        receiver.answers.set(request.order_id, [503, 503]);

        await postJson(payments.url, request);
        await settled(request.order_id);

        const [callback] = payments.recorded({ order_id: request.order_id }).callbacks;
        expect(callback!.delivery).to.equal('delivered');
        expect(callback!.attempts.map((a) => a.http_status)).to.deep.equal([503, 503, 200]);
        const received = receiver.receivedFor(request.order_id);
        expect(received).to.have.length(3);
        expect(new Set(received.map((c) => c.headers['webhook-id'])).size).to.equal(1);
        for (const c of received) expect(verified(secret, c)).to.be.an('object');
      });
    });

    describe('when the receiver answers 400', () => {
      it('then the answer is recorded and the callback is not retried', async () => {
        const request = paymentRequest();
        receiver.answers.set(request.order_id, [400]);

        await postJson(payments.url, request);
        await settled(request.order_id);

        const [callback] = payments.recorded({ order_id: request.order_id }).callbacks;
        expect(callback).to.include({ delivery: 'rejected', http_status: 400 });
        expect(callback!.attempts).to.have.length(1);
        expect(receiver.receivedFor(request.order_id)).to.have.length(1);
      });
    });

    describe('when the receiver is down', () => {
      it('then it retries up to its bound and gives up, recording each error', async () => {
        const request = paymentRequest({
          callback_url: `http://127.0.0.1:${await closedPort()}/callback`,
        });
        const errorsBefore = payments.recorded().errors;

        await postJson(payments.url, request);
        await settled(request.order_id);

        const [callback] = payments.recorded({ order_id: request.order_id }).callbacks;
        expect(callback!.delivery).to.equal('gave_up');
        expect(callback!.attempts).to.have.length(4);
        expect(callback!.attempts.every((a) => a.http_status === null && a.error)).to.equal(true);
        expect(payments.recorded().errors).to.equal(errorsBefore + 4);
      });
    });

    describe('when its records are asked for over HTTP', () => {
      it('then GET /payments?order_id= lists the payment and its callback', async () => {
        const request = paymentRequest();
        await postJson(payments.url, request);
        await settled(request.order_id);

        const res = await getJson(`${payments.url}/payments?order_id=${request.order_id}`);

        expect(res.status).to.equal(200);
        expect(res.body.payments).to.have.length(1);
        expect(res.body.callbacks).to.have.length(1);
        expect(res.body.callbacks[0]).to.include({ delivery: 'delivered', http_status: 200 });
        expect(res.body.duplicates).to.be.a('number');
        expect((await getJson(`${payments.url}/_recorded`)).body.payments.length).to.be.greaterThan(
          1,
        );
      });
    });
  });

  describe('Notifications', () => {
    let notifications: NotificationsPeer;

    before(async () => {
      notifications = await startNotificationsPeer({ logger: silentLogger() });
    });
    after(async () => {
      await notifications?.stop();
    });

    const notification = (overrides: Record<string, unknown> = {}) => ({
      message: 'Your order was paid',
      idempotency_key: randomUUID(),
      order_id: randomUUID(),
      user_id: 'user-1',
      event: 'order.paid',
      ...overrides,
    });

    describe('when a notification is sent', () => {
      it('then it answers 201 and lists it for its order', async () => {
        const body = notification();

        const res = await postJson(`${notifications.url}/api/notifications`, body);

        expect(res.status).to.equal(201);
        expect(res.body).to.include(body);
        const listed = await getJson(
          `${notifications.url}/notifications?order_id=${body.order_id}`,
        );
        expect(listed.body.notifications).to.have.length(1);
        expect(listed.body.notifications[0]).to.include({ ...body, duplicates: 0 });
      });
    });

    describe('when the same idempotency key comes again', () => {
      it('then it answers the stored one and counts a duplicate, keeping one notification', async () => {
        const body = notification();
        const first = await postJson(notifications.url, body);
        const duplicatesBefore = notifications.recorded().duplicates;

        const again = await postJson(notifications.url, { ...body, message: 'again' });

        expect(again.status).to.equal(201);
        expect(again.body).to.deep.equal(first.body);
        expect(again.headers.get('idempotent-replayed')).to.equal('true');
        const recorded = notifications.recorded({ order_id: body.order_id });
        expect(recorded.notifications).to.have.length(1);
        expect(recorded.notifications[0]!.duplicates).to.equal(1);
        expect(recorded.duplicates).to.equal(duplicatesBefore + 1);
      });
    });

    describe('when only the contract fields are sent', () => {
      it('then it accepts them', async () => {
        const res = await postJson(notifications.url, {
          message: 'hello',
          idempotency_key: randomUUID(),
        });

        expect(res.status).to.equal(201);
        expect(res.body).to.include({ order_id: null, user_id: null, event: null });
      });
    });

    describe('when the body is bad', () => {
      it('then it answers 400 and counts it', async () => {
        const invalidBefore = notifications.recorded().invalid;

        const res = await postJson(notifications.url, { message: '' });

        expect(res.status).to.equal(400);
        expect(notifications.recorded().invalid).to.equal(invalidBefore + 1);
      });
    });
  });

  describe('Shipping', () => {
    const suffix = uniqueName('run');
    const requestsTopic = `dev-peers-requests-${suffix}`;
    const responsesTopic = `dev-peers-responses-${suffix}`;
    let broker: TestBroker;
    let kafka: Kafka;
    let producer: Producer;
    let responses: TopicReader;
    let shipping: ShippingPeer;

    before(async () => {
      broker = await sharedTestBroker();
      kafka = testKafka(broker);
      producer = kafka.producer();
      await producer.connect();
      shipping = await startShippingPeer({
        brokers: [broker.address],
        requestsTopic,
        responsesTopic,
        groupId: `dev-shipping-${suffix}`,
        delayMs: 0,
        logger: silentLogger(),
      });
      responses = await readTopic(kafka, responsesTopic);
    });
    after(async () => {
      await responses?.stop();
      await shipping?.stop();
      await producer?.disconnect();
    });

    /** Messages on `topic`, keyed by their order_id, as the service's producer keys them. */
    const sendTo = (topic: string, ...values: unknown[]) =>
      producer.send({
        topic,
        acks: -1,
        messages: values.map((value) => ({
          key: (value as { order_id?: string }).order_id ?? null,
          value: typeof value === 'string' ? value : JSON.stringify(value),
        })),
      });

    const send = (...values: unknown[]) => sendTo(requestsTopic, ...values);

    const cancelRequest = (orderId: string) => ({
      event_type: 'order.cancel_requested',
      order_id: orderId,
      idempotency_key: randomUUID(),
    });

    /** An order.paid of quantity 12, sent; resolves once Shipping holds it packing. */
    async function sendPacking() {
      const request = shippingRequest({ quantity: 12 });
      await send(request);
      await shipping.until(
        () => shipping.recorded({ order_id: request.order_id }).shipments[0]?.state === 'packing',
        10_000,
        'the order to be packing',
      );
      return request;
    }

    const answersFor = async (orderId: string, count = 1) => {
      await responses.until(
        () => responses.for(orderId).length >= count,
        10_000,
        `${count} answer(s) for order ${orderId}`,
      );
      return responses.for(orderId);
    };

    describe('when an order.paid request comes', () => {
      it('then it answers order.shipped with a shipment id, keyed by the order id', async () => {
        const request = shippingRequest({ quantity: 2 });

        await send(request);

        const [answer, ...more] = await answersFor(request.order_id);
        expect(more).to.have.length(0);
        expect(answer).to.include({
          event_type: 'order.shipped',
          order_id: request.order_id,
          item_id: request.item_id,
          quantity: 2,
        });
        expect(answer!.shipment_id).to.match(/^[0-9a-f-]{36}$/);
        // A reader can see the answer before the peer's send() has resolved and marked it.
        const recorded = () => shipping.recorded({ order_id: request.order_id }).shipments[0];
        await waitFor(() => recorded()?.state !== 'answering', { what: 'the answer recorded' });
        expect(recorded()).to.include({ state: 'answered', duplicates: 0 });
      });
    });

    describe('when the quantity is 13', () => {
      it('then it answers shipping.failed without a shipment id', async () => {
        const request = shippingRequest({ quantity: 13 });

        await send(request);

        const [answer] = await answersFor(request.order_id);
        expect(answer).to.include({
          event_type: 'shipping.failed',
          order_id: request.order_id,
          shipment_id: null,
        });
        expect(answer!.reason).to.be.a('string');
      });
    });

    describe('when the same request comes twice at once', () => {
      it('then it answers once, the repeat waiting for that answer, and counts the duplicate', async () => {
        const request = shippingRequest();
        const duplicatesBefore = shipping.recorded().duplicates;

        await send(request, request);
        await shipping.until(
          () => shipping.recorded().duplicates > duplicatesBefore,
          10_000,
          'the duplicate to be counted',
        );
        // Same key, so same partition: once this later request is answered, a second answer to
        // the duplicate would have been read before it.
        const marker = shippingRequest({ order_id: request.order_id, quantity: 5 });
        await send(marker);

        const answers = await answersFor(request.order_id, 2);
        expect(answers.map((a) => a.quantity)).to.deep.equal([1, 5]);
        const recorded = shipping.recorded({ order_id: request.order_id });
        expect(recorded.shipments.map((s) => s.duplicates)).to.deep.equal([1, 0]);
        expect(recorded.duplicates).to.equal(duplicatesBefore + 1);
      });
    });

    describe('when a request it answered comes again', () => {
      it('then it publishes the same answer again (same shipment id) and counts the duplicate, shipping nothing twice', async () => {
        const request = shippingRequest({ quantity: 2 });
        await send(request);
        const [first] = await answersFor(request.order_id);
        await shipping.until(
          () =>
            shipping.recorded({ order_id: request.order_id }).shipments[0]?.state === 'answered',
          10_000,
          'the answer recorded',
        );

        await send(request);

        const answers = await answersFor(request.order_id, 2);
        expect(answers).to.have.length(2);
        expect(answers[1]).to.deep.equal(first);
        expect(first!.shipment_id).to.be.a('string');
        const recorded = shipping.recorded({ order_id: request.order_id });
        expect(recorded.shipments).to.have.length(1);
        expect(recorded.shipments[0]).to.include({ duplicates: 1, state: 'answered' });
      });

      it('then a cancellation answered before is answered the same again', async () => {
        const request = await sendPacking();
        const cancel = cancelRequest(request.order_id);
        await send(cancel);
        const [first] = await answersFor(request.order_id);
        await shipping.until(
          () =>
            shipping.recorded({ order_id: request.order_id }).cancellations[0]?.state ===
            'answered',
          10_000,
          'the cancellation answered',
        );

        await send(cancel);

        const answers = await answersFor(request.order_id, 2);
        expect(answers[0]).to.include({ event_type: 'order.cancelled' });
        expect(answers[1]).to.deep.equal(first);
        expect(shipping.recorded({ order_id: request.order_id }).cancellations[0]).to.include({
          duplicates: 1,
        });
      });
    });

    describe('when a message is not an order.paid request', () => {
      it('then it is skipped or counted invalid, never answered, and the next is still served', async () => {
        const before = shipping.recorded();
        const orderId = randomUUID();
        const ownAnswer = {
          ...shippingRequest({ order_id: orderId }),
          event_type: 'order.shipped',
          shipment_id: 'x',
        };
        const broken = shippingRequest({ order_id: orderId, quantity: 'many' });
        const next = shippingRequest({ order_id: orderId });

        // One key, so one partition: they are handled in this order.
        await producer.send({
          topic: requestsTopic,
          messages: [ownAnswer, broken, 'not json', next].map((value) => ({
            key: orderId,
            value: typeof value === 'string' ? value : JSON.stringify(value),
          })),
        });

        const answers = await answersFor(orderId);
        expect(answers).to.have.length(1);
        expect(answers[0]!.quantity).to.equal(next.quantity);
        const after = shipping.recorded();
        expect(after.skipped).to.equal(before.skipped + 1);
        expect(after.invalid).to.equal(before.invalid + 2);
        expect(shipping.recorded({ order_id: orderId }).shipments).to.have.length(1);
      });
    });

    describe('when a cancellation is requested', () => {
      it('then an order still packing (quantity 12) is cancelled, answered order.cancelled once, and a repeat is counted, not answered', async () => {
        const request = await sendPacking();
        const cancel = cancelRequest(request.order_id);

        await send(cancel, cancel);

        const [answer, ...more] = await answersFor(request.order_id);
        expect(answer).to.include({
          event_type: 'order.cancelled',
          order_id: request.order_id,
          quantity: 12,
          shipment_id: null,
        });
        await shipping.until(
          () =>
            shipping.recorded({ order_id: request.order_id }).cancellations[0]?.duplicates === 1,
          10_000,
          'the repeat to be counted',
        );
        expect(more).to.have.length(0);
        // A reader can see the answer before the peer's send() has resolved and marked it, and
        // the cancellation is marked a step after its shipment: wait for both.
        await shipping.until(
          () => {
            const { shipments, cancellations } = shipping.recorded({ order_id: request.order_id });
            return (
              !['packing', 'answering'].includes(shipments[0]?.state ?? 'packing') &&
              (cancellations[0]?.state ?? 'answering') !== 'answering'
            );
          },
          10_000,
          'the answer recorded',
        );
        const recorded = shipping.recorded({ order_id: request.order_id });
        expect(recorded.shipments[0]).to.include({ state: 'answered' });
        expect(recorded.shipments[0]!.answer!.event_type).to.equal('order.cancelled');
        expect(recorded.cancellations[0]).to.include({ outcome: 'cancelled', state: 'answered' });
        expect(responses.for(request.order_id)).to.have.length(1);
      });

      it('then an order already shipped is answered order.shipped again, same shipment id: too late', async () => {
        const request = shippingRequest();
        await send(request);
        const [shipped] = await answersFor(request.order_id);

        await send(cancelRequest(request.order_id));

        const answers = await answersFor(request.order_id, 2);
        expect(answers.map((a) => a.event_type)).to.deep.equal(['order.shipped', 'order.shipped']);
        expect(answers[1]!.shipment_id).to.equal(shipped!.shipment_id);
        await shipping.until(
          () =>
            shipping.recorded({ order_id: request.order_id }).cancellations[0]?.state ===
            'answered',
        );
        expect(
          shipping.recorded({ order_id: request.order_id }).cancellations[0]!.outcome,
        ).to.equal('too_late');
      });

      it('then one that overtakes its request is answered order.cancelled, and the request, when it comes, is not shipped', async () => {
        const request = shippingRequest();

        await send(cancelRequest(request.order_id));
        await answersFor(request.order_id);
        await send(request);

        const answers = await answersFor(request.order_id, 2);
        expect(answers.map((a) => a.event_type)).to.deep.equal([
          'order.cancelled',
          'order.cancelled',
        ]);
        expect(answers.every((a) => a.shipment_id === null)).to.equal(true);
      });

      it('then, when the cancel rule says ship, an order still packing ships at once and the cancellation is too late', async () => {
        shipping.setCancelRule(() => 'ship');
        try {
          const request = await sendPacking();

          await send(cancelRequest(request.order_id));

          const [answer] = await answersFor(request.order_id);
          expect(answer).to.include({ event_type: 'order.shipped', quantity: 12 });
          expect(answer!.shipment_id).to.be.a('string');
          await shipping.until(
            () =>
              shipping.recorded({ order_id: request.order_id }).cancellations[0]?.state ===
              'answered',
          );
          expect(shipping.recorded({ order_id: request.order_id }).cancellations[0]).to.include({
            outcome: 'too_late',
          });
        } finally {
          shipping.setCancelRule(undefined);
        }
      });
    });

    describe('when its records are asked for over HTTP', () => {
      it('then GET /shipments?order_id= lists the request and its answer', async () => {
        const request = shippingRequest();
        await send(request);
        await answersFor(request.order_id);

        const res = await getJson(`${shipping.url}/shipments?order_id=${request.order_id}`);

        expect(res.status).to.equal(200);
        expect(res.body.shipments).to.have.length(1);
        expect(res.body.shipments[0].answer.event_type).to.equal('order.shipped');
        expect(res.body).to.have.keys(
          'shipments',
          'cancellations',
          'duplicates',
          'skipped',
          'invalid',
          'errors',
        );
      });
    });

    describe('when an answer cannot be produced', () => {
      it('then it counts the error and answers when Kafka delivers the request again', async () => {
        const topic = `dev-peers-flaky-${suffix}`;
        let calls = 0;
        const flaky = await startShippingPeer({
          brokers: [broker.address],
          requestsTopic: topic,
          responsesTopic,
          groupId: `dev-shipping-flaky-${suffix}`,
          delayMs: 0,
          failRule: () => {
            if (++calls === 1) throw new Error('the first answer breaks (test)');
            return undefined;
          },
          logger: silentLogger(),
        });
        try {
          const request = shippingRequest();
          await sendTo(topic, request);

          const [answer, ...more] = await answersFor(request.order_id);
          // The answer can reach the topic's readers before the peer's send resolves and marks it.
          await flaky.until(
            () => flaky.recorded().shipments[0]?.state === 'answered',
            10_000,
            'the shipment marked answered',
          );

          expect(answer!.event_type).to.equal('order.shipped');
          expect(more).to.have.length(0);
          const recorded = flaky.recorded();
          expect(recorded.errors).to.equal(1);
          expect(recorded.duplicates).to.equal(0);
          expect(recorded.shipments[0]).to.include({ state: 'answered' });
        } finally {
          await flaky.stop();
        }
      });
    });

    describe('when both directions share one topic', () => {
      it('then it answers on it and skips its own answers', async () => {
        const topic = `dev-peers-shared-${suffix}`;
        const shared = await startShippingPeer({
          brokers: [broker.address],
          requestsTopic: topic,
          responsesTopic: topic,
          groupId: `dev-shipping-shared-${suffix}`,
          delayMs: 0,
          logger: silentLogger(),
        });
        try {
          const request = shippingRequest();
          await sendTo(topic, request);

          await shared.until(() => shared.recorded().skipped === 1, 10_000, 'its own answer');

          const recorded = shared.recorded();
          expect(recorded.shipments).to.have.length(1);
          expect(recorded.shipments[0]!.answer!.event_type).to.equal('order.shipped');
          expect(recorded.invalid).to.equal(0);
        } finally {
          await shared.stop();
        }
      });
    });
  });

  describe('startPeers', () => {
    describe('when started with one options object', () => {
      it('then all four serve, and stop() stops them all', async () => {
        const broker = await sharedTestBroker();
        {
          const peers = await startPeers({
            logger: silentLogger(),
            payments: { callbackDelayMs: 0 },
            shipping: {
              brokers: [broker.address],
              requestsTopic: uniqueName('dev-peers-all'),
              groupId: uniqueName('dev-shipping-all'),
            },
          });

          const answers = await Promise.all([
            getJson(peers.catalog.url),
            getJson(`${peers.payments.url}/payments`),
            getJson(`${peers.notifications.url}/notifications`),
            getJson(`${peers.shipping.url}/shipments`),
          ]);
          await peers.stop();

          expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200]);
          for (const url of [peers.catalog.url, peers.payments.url, peers.notifications.url]) {
            const error = await fetch(url).then(
              () => undefined,
              (err: unknown) => err,
            );
            expect(error, url).to.be.instanceOf(Error);
          }
        }
      });
    });
  });
});
