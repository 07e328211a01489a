import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../../lib/platform/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../webhook-receiver.js';

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** A delivery as the service sends one: the order event's exact bytes and its signed headers. */
function delivery(
  secrets: string[],
  {
    orderId = randomUUID(),
    type = 'order.paid',
    webhookId = `msg_${randomUUID()}`,
  }: { orderId?: string; type?: string; webhookId?: string } = {},
) {
  const body = JSON.stringify({
    type,
    timestamp: new Date().toISOString(),
    data: { id: orderId, status: 'paid', amount: '5.00' },
  });
  const at = new Date();
  // During a rotation the service signs with both secrets, space-separated.
  const signature = secrets.map((s) => new Webhook(s).sign(webhookId, at, body)).join(' ');
  return {
    body,
    orderId,
    webhookId,
    headers: {
      'content-type': 'application/json',
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    } as Record<string, string>,
  };
}

async function post(url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

describe('development webhook receiver', () => {
  const secret = newSecret();
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await startWebhookReceiver({ secrets: [secret], logger: silentLogger() });
  });
  afterEach(async () => {
    await receiver?.stop();
  });

  describe('when a delivery signed with its secret comes', () => {
    it('then it answers 204 and records it verified, with its event, order and webhook-id', async () => {
      const d = delivery([secret], { type: 'order.shipped' });

      const answer = await post(`${receiver.url}/hooks/orders`, d.body, d.headers);

      expect(answer).to.deep.equal({ status: 204, text: '' });
      const [got] = receiver.recorded({ order_id: d.orderId }).deliveries;
      expect(got).to.include({
        webhook_id: d.webhookId,
        event: 'order.shipped',
        order_id: d.orderId,
        verified: true,
        duplicate: false,
        rejection: null,
        status: 204,
      });
      expect(receiver.events(d.orderId)).to.deep.equal(['order.shipped']);
    });
  });

  describe('when the body was tampered with after signing', () => {
    it('then it answers 401, records it not verified with the reason, and does not act on it', async () => {
      const d = delivery([secret]);
      const tampered = d.body.replace('"5.00"', '"0.01"');

      const answer = await post(receiver.url, tampered, d.headers);

      expect(answer.status).to.equal(401);
      const [got] = receiver.recorded({ order_id: d.orderId }).deliveries;
      expect(got).to.include({ verified: false, duplicate: false, status: 401 });
      expect(got!.rejection).to.match(/signature/i);
      expect(receiver.recorded().rejected).to.equal(1);
      expect(receiver.events(d.orderId)).to.deep.equal([]);
    });
  });

  describe('when a delivery is signed with another secret, or not at all', () => {
    it('then each answers 401', async () => {
      const other = delivery([newSecret()]);
      const unsigned = delivery([secret]);
      delete unsigned.headers['webhook-signature'];

      expect((await post(receiver.url, other.body, other.headers)).status).to.equal(401);
      expect((await post(receiver.url, unsigned.body, unsigned.headers)).status).to.equal(401);
      expect(receiver.recorded().rejected).to.equal(2);
    });
  });

  describe('when the same webhook-id comes twice', () => {
    it('then both are answered 204 and it is counted once, the repeat marked duplicate', async () => {
      const d = delivery([secret]);

      const first = await post(receiver.url, d.body, d.headers);
      const again = await post(receiver.url, d.body, d.headers);

      expect([first.status, again.status]).to.deep.equal([204, 204]);
      const got = receiver.recorded({ order_id: d.orderId }).deliveries;
      expect(got.map((g) => g.duplicate)).to.deep.equal([false, true]);
      expect(receiver.recorded().duplicates).to.equal(1);
      expect(receiver.events(d.orderId)).to.deep.equal(['order.paid']);
    });

    it('then a forged first one does not make the real one a duplicate', async () => {
      const d = delivery([secret]);
      const forged = delivery([newSecret()], { orderId: d.orderId, webhookId: d.webhookId });

      expect((await post(receiver.url, forged.body, forged.headers)).status).to.equal(401);
      expect((await post(receiver.url, d.body, d.headers)).status).to.equal(204);
      expect(receiver.events(d.orderId)).to.deep.equal(['order.paid']);
      expect(receiver.recorded().duplicates).to.equal(0);
    });
  });

  describe('when its secret is set after it started', () => {
    it('then a delivery before answers 401 (no secret yet), and one after POST /_secret answers 204', async () => {
      const late = await startWebhookReceiver({ logger: silentLogger() });
      try {
        const d = delivery([secret]);
        const before = await post(late.url, d.body, d.headers);
        expect(before.status).to.equal(401);
        expect(before.text).to.include('no secret set yet');

        const set = await post(`${late.url}/_secret`, JSON.stringify({ secret }), {
          'content-type': 'application/json',
        });
        expect(set.status).to.equal(204);
        expect((await post(late.url, d.body, d.headers)).status).to.equal(204);
        expect(late.events(d.orderId)).to.deep.equal(['order.paid']);
      } finally {
        await late.stop();
      }
    });

    it('then a secret not of the whsec_ form is refused with 400 and the old one still verifies', async () => {
      const set = await post(`${receiver.url}/_secret`, JSON.stringify({ secret: 'hunter2' }), {
        'content-type': 'application/json',
      });
      expect(set.status).to.equal(400);
      const d = delivery([secret]);
      expect((await post(receiver.url, d.body, d.headers)).status).to.equal(204);
    });
  });

  describe('when a rotation is under way', () => {
    it('then a delivery signed with both secrets verifies against the new one alone', async () => {
      const next = newSecret();
      receiver.setSecrets([next]);
      const d = delivery([next, secret]);

      expect((await post(receiver.url, d.body, d.headers)).status).to.equal(204);
      const onlyOld = delivery([secret]);
      expect((await post(receiver.url, onlyOld.body, onlyOld.headers)).status).to.equal(401);
    });
  });

  describe('when told to answer 410', () => {
    it('then deliveries get 410 and are not recorded as taken', async () => {
      receiver.setFault({ status: 410 });
      const d = delivery([secret]);

      expect((await post(receiver.url, d.body, d.headers)).status).to.equal(410);
      expect(receiver.faulted).to.equal(1);
      expect(receiver.recorded().deliveries).to.deep.equal([]);
    });
  });

  describe('when deliveries come', () => {
    it('then it prints one line each: event, order, webhook-id, verified or not, duplicate or not', async () => {
      const lines: Record<string, unknown>[] = [];
      const out = new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      });
      const logged = await startWebhookReceiver({
        secrets: [secret],
        logger: createLogger({ name: 'webhook-receiver', out }),
      });
      try {
        const d = delivery([secret], { type: 'order.cancelled' });
        await post(logged.url, d.body, d.headers);
        await post(logged.url, d.body, d.headers);
        await post(logged.url, d.body.replace('paid', 'new'), d.headers);

        expect(lines.map((l) => [l.msg, l.webhook_id, l.verified, l.duplicate])).to.deep.equal([
          [`webhook order.cancelled for order ${d.orderId}: verified`, d.webhookId, true, false],
          [
            `webhook order.cancelled for order ${d.orderId}: verified, duplicate`,
            d.webhookId,
            true,
            true,
          ],
          [
            `webhook order.cancelled for order ${d.orderId}: NOT verified (No matching signature found)`,
            d.webhookId,
            false,
            false,
          ],
        ]);
      } finally {
        await logged.stop();
      }
    });
  });

  describe('when its records are asked for over HTTP', () => {
    it('then GET /webhooks?order_id= lists that order’s deliveries', async () => {
      const d = delivery([secret]);
      const other = delivery([secret]);
      await post(receiver.url, d.body, d.headers);
      await post(receiver.url, other.body, other.headers);

      const res = await fetch(`${receiver.url}/webhooks?order_id=${d.orderId}`);
      const listed = (await res.json()) as { deliveries: { webhook_id: string }[] };

      expect(res.status).to.equal(200);
      expect(listed.deliveries.map((x) => x.webhook_id)).to.deep.equal([d.webhookId]);
    });
  });
});
