import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { silentLogger } from '../../../lib/platform/logger.js';
import { PeerConfigError } from '../http-server.js';
import {
  dropCallbackFromEnv,
  startPaymentsPeer,
  type Payment,
  type PaymentsPeer,
} from '../payments.js';
import { startRecordingPeer, type RecordingPeer } from '../../testkit/recording-peer.js';
import { waitFor } from '../../testkit/wait.js';

/**
 * The development Payments' status GET and its dropped callbacks (the payment checks' peer), over
 * real HTTP, with a recording server as the webhook receiver.
 */
describe('development Payments: status GET and dropped callbacks', () => {
  let receiver: RecordingPeer;
  let payments: PaymentsPeer;
  const dropFor = new Set<string>();

  before(async () => {
    receiver = await startRecordingPeer([{ status: 200 }]);
    payments = await startPaymentsPeer({
      callbackDelayMs: 300,
      logger: silentLogger(),
      dropCallback: (p) => dropFor.has(p.order_id),
    });
  });
  after(async () => {
    await payments?.stop();
    await receiver?.close();
  });

  async function pay(orderId: string, amount = '5.00'): Promise<Payment> {
    const res = await fetch(`${payments.url}/api/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        order_id: orderId,
        amount,
        callback_url: receiver.url,
        idempotency_key: randomUUID(),
        user_id: 'u-1',
      }),
    });
    expect(res.status).to.equal(201);
    return (await res.json()) as Payment;
  }

  const status = async (id: string) => {
    const res = await fetch(`${payments.url}/api/payments/${encodeURIComponent(id)}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('when a payment is asked about, then it is pending until its callback comes due, and then carries the outcome in the callback’s body', async () => {
    const orderId = randomUUID();
    const payment = await pay(orderId, '2.13');

    const early = await status(payment.id);
    await waitFor(async () => receiver.requests.some((r) => (r.body as Payment).id === payment.id));
    const late = await status(payment.id);

    expect(early).to.deep.include({ status: 200 });
    expect(early.body.status).to.equal('pending');
    const callback = receiver.requests.find((r) => (r.body as Payment).id === payment.id)!.body;
    expect(late.body).to.deep.equal(callback);
    expect(late.body).to.include({ status: 'failed', order_id: orderId, user_id: 'u-1' });
  });

  it('when the payment is unknown, then 404', async () => {
    const res = await status(`no-such-${randomUUID()}`);

    expect(res.status).to.equal(404);
  });

  it('when told to drop an order’s callback, then none is sent, it is recorded as dropped, and the status GET tells the outcome', async () => {
    const orderId = randomUUID();
    dropFor.add(orderId);
    const payment = await pay(orderId);

    await payments.until(
      () => payments.recorded({ order_id: orderId }).callbacks[0]?.delivery === 'dropped',
    );
    await new Promise((r) => setTimeout(r, 300));

    expect(
      receiver.requests.filter((r) => (r.body as Payment).order_id === orderId),
    ).to.have.length(0);
    expect((await status(payment.id)).body.status).to.equal('succeeded');
  });

  it('when PAYMENTS_CALLBACK_DROP_RATE is set, then 0 or unset drops none, 1 drops all, and anything outside 0 to 1 is refused by name', () => {
    const payment = { id: 'p', order_id: 'o', amount: '1.00' } as Payment;

    expect(dropCallbackFromEnv({})).to.equal(undefined);
    expect(dropCallbackFromEnv({ PAYMENTS_CALLBACK_DROP_RATE: '0' })).to.equal(undefined);
    expect(dropCallbackFromEnv({ PAYMENTS_CALLBACK_DROP_RATE: '1' })!(payment)).to.equal(true);
    for (const bad of ['1.5', '-0.1', 'a fifth']) {
      expect(() => dropCallbackFromEnv({ PAYMENTS_CALLBACK_DROP_RATE: bad })).to.throw(
        PeerConfigError,
        /PAYMENTS_CALLBACK_DROP_RATE must be a number from 0 to 1/,
      );
    }
  });
});
