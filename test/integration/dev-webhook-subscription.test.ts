import { expect } from 'chai';
import {
  DEV_RECEIVER_DESCRIPTION,
  subscribeReceiver,
  unsubscribeReceiver,
  type AdminApi,
} from '../../scripts/dev/webhook-subscription.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';

/**
 * How `npm run dev` subscribes its webhook receiver through the admin API, against a real local
 * HTTP server standing in for the web process.
 */
describe('dev mode: subscribing its webhook receiver', () => {
  let web: RecordingPeer;
  let api: AdminApi;
  const receiverUrl = 'http://127.0.0.1:9/webhooks';
  const basic = `Basic ${Buffer.from('dev-admin:dev-pw').toString('base64')}`;

  beforeEach(async () => {
    web = await startRecordingPeer();
    api = { baseUrl: web.url.replace(/\/$/, ''), user: 'dev-admin', password: 'dev-pw' };
  });
  afterEach(async () => {
    await web?.close();
  });

  it('when the subscription API answers, then an earlier run’s subscription is deleted and the receiver is subscribed to every event with the admin credentials, answering id and secret', async () => {
    const secret = `whsec_${Buffer.from('x'.repeat(24)).toString('base64')}`;
    web.script([
      {
        status: 200,
        body: {
          data: [
            { id: 'old-dev', description: DEV_RECEIVER_DESCRIPTION },
            { id: 'a-client', description: 'the ERP' },
          ],
        },
      },
      { status: 204 },
      { status: 201, body: { data: { id: 'new-dev', secret } } },
    ]);

    const result = await subscribeReceiver(api, receiverUrl);

    expect(result).to.deep.equal({ subscribed: true, id: 'new-dev', secret, removedStale: 1 });
    expect(web.requests.map((r) => `${r.method} ${r.path}`)).to.deep.equal([
      'GET /api/v1/webhook-subscriptions',
      'DELETE /api/v1/webhook-subscriptions/old-dev',
      'POST /api/v1/webhook-subscriptions',
    ]);
    for (const r of web.requests) expect(r.headers.authorization).to.equal(basic);
    expect(web.requests[2]!.body).to.deep.equal({
      url: receiverUrl,
      events: ['*'],
      description: DEV_RECEIVER_DESCRIPTION,
    });
  });

  it('when the service has no subscription API (404), then it answers not subscribed and writes nothing', async () => {
    web.script([{ status: 404, body: { data: null, errors: [{ code: 'not_found' }] } }]);

    expect(await subscribeReceiver(api, receiverUrl)).to.deep.equal({ subscribed: false });
    expect(web.requests.map((r) => r.method)).to.deep.equal(['GET']);
  });

  it('when the API refuses the subscription, then it throws naming the status and the errors', async () => {
    web.script([
      { status: 200, body: { data: [] } },
      {
        status: 422,
        body: { data: null, errors: [{ field: 'url', message: 'private address' }] },
      },
    ]);

    const failure = await subscribeReceiver(api, receiverUrl).then(
      () => undefined,
      (err: Error) => err,
    );

    expect(failure?.message).to.equal(
      'POST /api/v1/webhook-subscriptions answered 422: [{"field":"url","message":"private address"}]',
    );
  });

  it('when the subscription is removed at stop, then a DELETE of it is sent, and one already gone is fine', async () => {
    web.script([{ status: 404 }]);

    await unsubscribeReceiver(api, 'new-dev');

    expect(web.requests.map((r) => `${r.method} ${r.path}`)).to.deep.equal([
      'DELETE /api/v1/webhook-subscriptions/new-dev',
    ]);
  });
});
