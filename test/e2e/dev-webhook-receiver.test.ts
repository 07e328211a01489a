import { expect } from 'chai';
import { orderBody } from '../support/factories.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

/**
 * `npm run dev`'s webhook receiver: started, subscribed to every order event through the admin
 * API, and given the subscription's secret, so an order's events arrive there verified.
 */
describe('dev mode: the development webhook receiver', function () {
  this.timeout(60000);
  let sys: TestSystem;

  before(async () => {
    sys = await startTestSystem({ WEBHOOK_RECEIVER: 'on' });
  });
  after(async () => {
    await sys?.stop();
  });

  it('when dev mode starts, then its receiver listens and lists what it received', async () => {
    const receiver = sys.dev.peers.webhooks!;
    const res = await fetch(`${receiver.url}/webhooks`);

    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.include({ deliveries: [], rejected: 0 });
  });

  it('when an order ships, then the receiver got order.created, order.paid and order.shipped, each verified once, in order', async function () {
    if (!sys.dev.webhookSubscriptionId) {
      // The subscription API answered 404: dev mode said so and went on, as it should.
      this.skip();
    }
    const receiver = sys.dev.peers.webhooks!;
    const created = await sys.request('POST', '/api/v1/orders', orderBody());
    const orderId = created.body.data.id as string;
    await sys.until(orderId, ['shipped'], 20000);

    await receiver.until(
      () => receiver.events(orderId).length >= 3,
      20000,
      'three verified deliveries',
    );

    expect(receiver.events(orderId)).to.deep.equal([
      'order.created',
      'order.paid',
      'order.shipped',
    ]);
    expect(receiver.recorded().rejected).to.equal(0);
  });
});
