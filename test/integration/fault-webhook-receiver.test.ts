import { expect } from 'chai';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { startWebhookReceiver, type WebhookReceiver } from '../faults/support/webhook-receiver.js';

/**
 * The fault suite's subscriber, against real Postgres and real HTTP: it subscribes itself to every
 * event and judges each request's signature with `standardwebhooks` as it arrives.
 */
describe("fault suite's webhook receiver", () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  const ORDER = '0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b';
  const body = JSON.stringify({
    type: 'order.paid',
    timestamp: '2026-12-07T10:00:00.000Z',
    data: { id: ORDER, status: 'paid' },
  });

  before(async () => {
    db = await createTestDatabase('fault_receiver');
    receiver = await startWebhookReceiver(db.pool);
  });
  after(async () => {
    await receiver?.close();
    await db?.drop();
  });

  const post = (headers: Record<string, string>, sent = body) =>
    fetch(receiver.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: sent,
    });

  async function secret(): Promise<string> {
    const { rows } = await db.pool.query<{ secret: string }>(
      'select secret from webhook_subscriptions where id = $1',
      [receiver.subscriptionId],
    );
    return rows[0]!.secret;
  }

  it('when it starts, then it is subscribed to every event, active, at its own URL, with a whsec_ secret', async () => {
    const { rows } = await db.pool.query<{ url: string; events: string[]; active: boolean }>(
      'select url, events, active from webhook_subscriptions',
    );

    expect(rows).to.deep.equal([{ url: receiver.url, events: ['*'], active: true }]);
    expect(await secret()).to.match(/^whsec_[A-Za-z0-9+/]+=*$/);
  });

  it('when a delivery signed with its secret arrives, then it is taken (204) and kept as valid, under its order and event', async () => {
    const headers = signedWebhookHeaders(await secret(), body, { id: 'msg_valid' });

    const res = await post(headers);

    expect(res.status).to.equal(204);
    const [kept] = receiver.forOrder(ORDER).filter((d) => d.messageId === 'msg_valid');
    expect(kept).to.deep.include({ type: 'order.paid', orderId: ORDER, status: 204 });
    expect(kept!.signatureProblem).to.equal(undefined);
  });

  it('when a body was changed after signing, or signed with another secret, or signed too long ago, then each is kept with why it did not verify', async () => {
    const key = await secret();
    const other = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const old = Math.floor(Date.now() / 1000) - 600;

    await post(
      signedWebhookHeaders(key, body, { id: 'msg_tampered' }),
      body.replace('paid', 'shipped'),
    );
    await post(signedWebhookHeaders(other, body, { id: 'msg_foreign_key' }));
    await post(signedWebhookHeaders(key, body, { id: 'msg_old', timestamp: old }));

    const problems = Object.fromEntries(
      receiver.deliveries().map((d) => [d.messageId, d.signatureProblem]),
    );
    expect(problems.msg_tampered).to.match(/no matching signature/i);
    expect(problems.msg_foreign_key).to.match(/no matching signature/i);
    expect(problems.msg_old).to.match(/too old/i);
  });

  it('when it is told to answer 503, then deliveries are refused and kept as refused, until it takes them again', async () => {
    const headers = signedWebhookHeaders(await secret(), body, { id: 'msg_outage' });

    receiver.answer(503);
    const refused = await post(headers);
    receiver.answer(204);
    const taken = await post(headers);

    expect([refused.status, taken.status]).to.deep.equal([503, 204]);
    const statuses = receiver
      .deliveries()
      .filter((d) => d.messageId === 'msg_outage')
      .map((d) => d.status);
    expect(statuses).to.deep.equal([503, 204]);
  });

  it('when a request names no order, then it is listed apart', async () => {
    await post({}, '{"hello":"world"}');

    expect(receiver.unattributed().map((d) => d.signatureProblem)).to.deep.equal([
      'Missing required headers',
    ]);
  });
});
