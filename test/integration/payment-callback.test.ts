import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import sinon from 'sinon';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import {
  createOrderForPayment,
  newWebhookSecret,
  paymentCallbackBody,
  sendPaymentCallback,
  type OrderPaymentFacts,
} from '../support/webhooks.js';

interface Counts {
  inbox: number;
  outbox: number;
}

async function counts(api: TestApi): Promise<Counts> {
  const { rows } = await api.db.pool.query<{ inbox: number; outbox: number }>(
    'select (select count(*) from inbox)::int as inbox, (select count(*) from outbox)::int as outbox',
  );
  return rows[0]!;
}

describe('POST /api/v1/orders/payment-callback', () => {
  const secret = newWebhookSecret();
  let order: OrderPaymentFacts;
  let baseline: Counts;

  /** Asserts the refusal: status, the field named, and no inbox or outbox row written. */
  async function expectRefused(
    res: { status: number; body: { errors: { field: string | null }[] } },
    status: number,
    field: string,
  ) {
    expect(res.status).to.equal(status);
    expect(res.body.errors[0]!.field).to.equal(field);
    expect(await counts(api)).to.deep.equal(baseline);
  }

  const api = startedForSuite(() =>
    startTestApi({ label: 'callback', env: { PAYMENTS_WEBHOOK_SECRET: secret } }),
  );
  beforeEach(async () => {
    order = await createOrderForPayment(api, { quantity: 3 });
    baseline = await counts(api);
  });

  it('when the OpenAPI document is read, then it names the signature headers and the answer', async () => {
    const doc = (await api.request('GET', '/api/openapi.json')).body;
    const op = doc.paths['/api/v1/orders/payment-callback'].post;
    expect(
      op.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`),
    ).to.deep.equal(['header:webhook-id', 'header:webhook-timestamp', 'header:webhook-signature']);
    const data = op.responses['200'].content['application/json'].schema.properties.data;
    expect(data.properties.outcome.enum).to.deep.equal(['recorded', 'duplicate', 'ignored']);
  });

  describe('when the callback is signed and matches the order', () => {
    it('when the payment succeeded, then 200 and one inbox row with its one inbox outbox row', async () => {
      const body = paymentCallbackBody(order);
      const res = await sendPaymentCallback(api, body, { secret });

      expect(res.status).to.equal(200);
      expect(res.body.data).to.deep.equal({
        order_id: order.id,
        payment_id: body.id,
        status: 'succeeded',
        outcome: 'recorded',
      });
      expect(res.body.meta.duplicate).to.equal(false);
      const inbox = await api.db.pool.query(
        'select id, source, message_key, order_id, event_type, payload, processed_at from inbox where order_id = $1',
        [order.id],
      );
      expect(inbox.rows).to.have.length(1);
      const row = inbox.rows[0];
      expect(row).to.deep.include({
        source: 'payments',
        message_key: `${order.id}:${body.id}:succeeded`,
        order_id: order.id,
        event_type: 'payment.succeeded',
        processed_at: null,
      });
      expect(row.payload).to.deep.equal(body);
      const outbox = await api.db.pool.query(
        "select event_type, order_id, payload from outbox where queue = 'inbox' and order_id = $1",
        [order.id],
      );
      expect(outbox.rows).to.deep.equal([
        { event_type: 'payment.succeeded', order_id: order.id, payload: { inbox_id: row.id } },
      ]);
    });

    it('when the payment failed, then the inbox row says payment.failed', async () => {
      const res = await sendPaymentCallback(api, paymentCallbackBody(order, { status: 'failed' }), {
        secret,
      });
      expect(res.status).to.equal(200);
      const inbox = await api.db.pool.query('select event_type from inbox where order_id = $1', [
        order.id,
      ]);
      expect(inbox.rows).to.deep.equal([{ event_type: 'payment.failed' }]);
      const outbox = await api.db.pool.query(
        "select event_type from outbox where queue = 'inbox' and order_id = $1",
        [order.id],
      );
      expect(outbox.rows).to.deep.equal([{ event_type: 'payment.failed' }]);
    });

    it('when the amount is the same value written differently, then it is accepted', async () => {
      expect(order.amount).to.equal('0.30');
      const res = await sendPaymentCallback(api, paymentCallbackBody(order, { amount: '0.3' }), {
        secret,
      });
      expect(res.status).to.equal(200);
      expect(await counts(api)).to.deep.equal({
        inbox: baseline.inbox + 1,
        outbox: baseline.outbox + 1,
      });
    });

    it('when Payments adds a field this service does not know, then the callback is still taken in', async () => {
      const body = { ...paymentCallbackBody(order), currency: 'EUR' };
      const res = await sendPaymentCallback(api, body, { secret });
      expect(res.status).to.equal(200);
      const inbox = await api.db.pool.query('select payload from inbox where order_id = $1', [
        order.id,
      ]);
      expect(inbox.rows[0].payload).to.deep.equal(body);
    });

    it('when the payment is pending, then 200 and nothing is written', async () => {
      const res = await sendPaymentCallback(
        api,
        paymentCallbackBody(order, { status: 'pending' }),
        {
          secret,
        },
      );
      expect(res.status).to.equal(200);
      expect(res.body.data.outcome).to.equal('ignored');
      expect(await counts(api)).to.deep.equal(baseline);
    });

    it('when the same callback comes again, then 200 with duplicate: true and nothing new', async () => {
      const body = paymentCallbackBody(order);
      const first = await sendPaymentCallback(api, body, { secret });
      const afterFirst = await counts(api);
      // A resend is signed afresh (new webhook-id and time) but carries the same payment.
      const again = await sendPaymentCallback(api, body, { secret });

      expect(first.body.meta.duplicate).to.equal(false);
      expect(again.status).to.equal(200);
      expect(again.body.meta.duplicate).to.equal(true);
      expect(again.body.data.outcome).to.equal('duplicate');
      expect(await counts(api)).to.deep.equal(afterFirst);
      expect(afterFirst).to.deep.equal({ inbox: baseline.inbox + 1, outbox: baseline.outbox + 1 });
    });

    it('when a signed message is replayed byte for byte, headers and all, then 200 duplicate and nothing new', async () => {
      const raw = JSON.stringify(paymentCallbackBody(order));
      const captured = signedWebhookHeaders(secret, raw);
      const first = await sendPaymentCallback(api, raw, { headers: captured });
      const afterFirst = await counts(api);
      const replayed = await sendPaymentCallback(api, raw, { headers: captured });

      expect(first.status).to.equal(200);
      expect(replayed.status).to.equal(200);
      expect(replayed.body.meta.duplicate).to.equal(true);
      expect(await counts(api)).to.deep.equal(afterFirst);
      expect(afterFirst).to.deep.equal({ inbox: baseline.inbox + 1, outbox: baseline.outbox + 1 });
    });

    it('when a captured signed message is replayed more than 5 minutes later, then 401 naming webhook-timestamp and nothing written', async () => {
      const raw = JSON.stringify(paymentCallbackBody(order));
      const captured = signedWebhookHeaders(secret, raw);
      // Only Date is faked: the server, sockets and timers run as usual.
      const clock = sinon.useFakeTimers({ now: Date.now() + 5 * 60_000 + 1000, toFake: ['Date'] });
      try {
        const res = await sendPaymentCallback(api, raw, { headers: captured });
        await expectRefused(res, 401, 'webhook-timestamp');
      } finally {
        clock.restore();
      }
    });

    it('when the same callback arrives several times at once, then exactly one set of rows is written', async () => {
      const body = paymentCallbackBody(order);
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => sendPaymentCallback(api, body, { secret })),
      );
      expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200, 200]);
      expect(answers.filter((a) => a.body.meta.duplicate === false)).to.have.length(1);
      expect(await counts(api)).to.deep.equal({
        inbox: baseline.inbox + 1,
        outbox: baseline.outbox + 1,
      });
    });

    it('when a success and a failure come for the same payment, then both are taken in for the state machine to judge', async () => {
      const body = paymentCallbackBody(order);
      await sendPaymentCallback(api, body, { secret });
      const res = await sendPaymentCallback(api, { ...body, status: 'failed' }, { secret });
      expect(res.body.meta.duplicate).to.equal(false);
      expect(await counts(api)).to.deep.equal({
        inbox: baseline.inbox + 2,
        outbox: baseline.outbox + 2,
      });
    });
  });

  describe('when the callback is a refund outcome', () => {
    const paymentId = 'pay_refunded_1';
    let refundKey: string;

    /** The order as this service leaves it after asking Payments to refund its payment. */
    async function refundRequested() {
      refundKey = randomUUID();
      await api.db.pool.query(
        `update orders set status = 'cancelled', payment_id = $2, refund_status = 'requested',
                refund_idempotency_key = $3 where id = $1`,
        [order.id, paymentId, refundKey],
      );
    }
    const refundBody = (overrides: Record<string, unknown> = {}) =>
      paymentCallbackBody(order, {
        id: paymentId,
        status: 'refunded',
        idempotency_key: refundKey,
        ...overrides,
      });

    for (const status of ['refunded', 'refund_failed'] as const) {
      it(`when Payments says ${status} for the payment this service asked to refund, under the refund's key, then 200 and one inbox row`, async () => {
        await refundRequested();
        const body = refundBody({ status });

        const res = await sendPaymentCallback(api, body, { secret });
        const repeat = await sendPaymentCallback(api, body, { secret });

        expect(res.status).to.equal(200);
        expect(res.body.data).to.include({ payment_id: paymentId, status, outcome: 'recorded' });
        expect(repeat.body.data.outcome).to.equal('duplicate');
        const inbox = await api.db.pool.query(
          'select event_type, message_key from inbox where order_id = $1',
          [order.id],
        );
        expect(inbox.rows).to.deep.equal([
          {
            event_type: status === 'refunded' ? 'refund.succeeded' : 'refund.failed',
            message_key: `${order.id}:${paymentId}:${status}`,
          },
        ]);
      });
    }

    it('when no refund was requested for the order, then 409 naming status and nothing is written', async () => {
      refundKey = randomUUID();
      const res = await sendPaymentCallback(api, refundBody(), { secret });
      await expectRefused(res, 409, 'status');
    });

    it('when it names another payment, then 409 naming id and nothing is written', async () => {
      await refundRequested();
      const res = await sendPaymentCallback(api, refundBody({ id: 'pay_other' }), { secret });
      await expectRefused(res, 409, 'id');
    });

    it("when it carries the payment's key instead of the refund's, then 409 naming idempotency_key and nothing is written", async () => {
      await refundRequested();
      const res = await sendPaymentCallback(
        api,
        refundBody({ idempotency_key: order.paymentIdempotencyKey }),
        { secret },
      );
      await expectRefused(res, 409, 'idempotency_key');
    });

    it('when its amount differs from the order, then 409 naming amount and nothing is written', async () => {
      await refundRequested();
      const res = await sendPaymentCallback(api, refundBody({ amount: '0.01' }), { secret });
      await expectRefused(res, 409, 'amount');
    });
  });

  describe('when the signature does not prove the sender', () => {
    it('when the callback is unsigned, then 401 and nothing is written', async () => {
      const res = await sendPaymentCallback(api, paymentCallbackBody(order));
      await expectRefused(res, 401, 'webhook-id');
    });

    it('when it is signed with another secret, then 401 and nothing is written', async () => {
      const res = await sendPaymentCallback(api, paymentCallbackBody(order), {
        secret: newWebhookSecret(),
      });
      await expectRefused(res, 401, 'webhook-signature');
    });

    it('when the signature is garbage, then 401 and nothing is written', async () => {
      const res = await sendPaymentCallback(api, paymentCallbackBody(order), {
        secret,
        headers: { 'webhook-signature': 'v1,AAAA' },
      });
      await expectRefused(res, 401, 'webhook-signature');
    });

    it('when the body was changed after signing, then 401 and nothing is written', async () => {
      const body = paymentCallbackBody(order, { status: 'failed' });
      const res = await sendPaymentCallback(api, body, {
        secret,
        sentBody: JSON.stringify({ ...body, status: 'succeeded' }),
      });
      await expectRefused(res, 401, 'webhook-signature');
    });

    it('when the timestamp is older than 5 minutes, then 401 naming it and nothing is written', async () => {
      const res = await sendPaymentCallback(api, paymentCallbackBody(order), {
        secret,
        timestamp: Math.floor(Date.now() / 1000) - 600,
      });
      await expectRefused(res, 401, 'webhook-timestamp');
    });

    it('when the body is invalid and unsigned, then the signature is refused first (401)', async () => {
      const res = await sendPaymentCallback(api, { order_id: 'nope' });
      await expectRefused(res, 401, 'webhook-id');
    });
  });

  describe('when the signed callback does not match the order', () => {
    it('when the amount differs, then 409 naming amount and nothing is written', async () => {
      const res = await sendPaymentCallback(api, paymentCallbackBody(order, { amount: '0.31' }), {
        secret,
      });
      await expectRefused(res, 409, 'amount');
    });

    it('when the idempotency key differs, then 409 naming idempotency_key and nothing is written', async () => {
      const res = await sendPaymentCallback(
        api,
        paymentCallbackBody(order, { idempotency_key: randomUUID() }),
        { secret },
      );
      await expectRefused(res, 409, 'idempotency_key');
    });

    it('when the order does not exist, then 404 naming order_id and nothing is written', async () => {
      const res = await sendPaymentCallback(
        api,
        paymentCallbackBody(order, { order_id: randomUUID() }),
        {
          secret,
        },
      );
      await expectRefused(res, 404, 'order_id');
    });

    it('when a field is invalid, then 400 naming it and nothing is written', async () => {
      const res = await sendPaymentCallback(
        api,
        paymentCallbackBody(order, { status: 'chargeback' as 'failed' }),
        { secret },
      );
      await expectRefused(res, 400, 'status');
    });

    it('when a required field is missing, then 400 naming it and nothing is written', async () => {
      const { order_id: _omitted, ...body } = paymentCallbackBody(order);
      const res = await sendPaymentCallback(api, body, { secret });
      await expectRefused(res, 400, 'order_id');
    });
  });
});

describe('POST /api/v1/orders/payment-callback without PAYMENTS_WEBHOOK_SECRET', () => {
  const api = startedForSuite(() => startTestApi({ label: 'callback_unsigned' }));

  it('when an unsigned callback matches the order, then it is taken in', async () => {
    const order = await createOrderForPayment(api);
    const res = await sendPaymentCallback(api, paymentCallbackBody(order));
    expect(res.status).to.equal(200);
    const inbox = await api.db.pool.query('select event_type from inbox where order_id = $1', [
      order.id,
    ]);
    expect(inbox.rows).to.deep.equal([{ event_type: 'payment.succeeded' }]);
  });
});
