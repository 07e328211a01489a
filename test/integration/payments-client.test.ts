import { expect } from 'chai';
import { PeerContractError, PeerUnavailableError } from '../../lib/domain/errors.js';
import { createPaymentsClient, type PaymentsClient } from '../../lib/peers/payments.js';
import { startRecordingPeer, type RecordingPeer } from '../support/recording-peer.js';

/**
 * The Payments client's side of the contract the payment checks rely on, against a real local
 * HTTP server: the payment id kept from the request's answer, and the status GET.
 */
describe('Payments client: payment id and status', () => {
  let peer: RecordingPeer;
  let client: PaymentsClient;
  const request = { order_id: 'o-1', amount: '5.00', idempotency_key: 'k-1' };
  const status = {
    id: 'pay-1',
    user_id: null,
    order_id: 'o-1',
    amount: '5.00',
    status: 'succeeded',
    idempotency_key: 'k-1',
    created_at: '2026-12-07T10:00:00.000Z',
  };

  before(async () => {
    peer = await startRecordingPeer();
    client = createPaymentsClient({
      // A trailing slash on the configured URL makes no double slash.
      url: new URL('/api/payments/', peer.url).toString(),
      callbackUrl: 'http://127.0.0.1:1/cb',
      timeoutMs: 2000,
    });
  });
  after(async () => {
    await peer.close();
  });

  it('when Payments answers 201 with the pending payment, then its id is kept', async () => {
    peer.script([{ status: 201, body: { ...status, status: 'pending' } }]);

    expect(await client.requestPayment(request)).to.deep.equal({
      outcome: 'created',
      paymentId: 'pay-1',
    });
  });

  it('when Payments answers 409 with the first request’s payment, then it counts as delivered and the id is kept; a bare 409 leaves no id', async () => {
    peer.script([{ status: 409, body: status, times: 1 }, { status: 409 }]);

    const withBody = await client.requestPayment(request);
    const bare = await client.requestPayment(request);

    expect(withBody).to.deep.equal({ outcome: 'already-requested', paymentId: 'pay-1' });
    expect(bare).to.deep.equal({ outcome: 'already-requested', paymentId: undefined });
  });

  it('when the status is asked, then GET {url}/{payment_id} is sent (id encoded) and its body returned', async () => {
    peer.script([{ status: 200, body: { ...status, id: 'pay/1' } }]);

    const answer = await client.getPayment('pay/1');

    expect(answer).to.deep.equal({ kind: 'found', payment: { ...status, id: 'pay/1' } });
    const sent = peer.requests.at(-1)!;
    expect([sent.method, sent.path]).to.deep.equal(['GET', '/api/payments/pay%2F1']);
  });

  it('when Payments answers 404, then the payment is unknown', async () => {
    peer.script([{ status: 404, body: { detail: 'no payment' } }]);

    expect(await client.getPayment('pay-2')).to.deep.equal({ kind: 'unknown' });
  });

  it('when the answer breaks the contract (another status, another payment), then PeerContractError', async () => {
    peer.script([
      { status: 200, body: { ...status, status: 'refunded' }, times: 1 },
      { status: 200, body: status },
    ]);

    const badStatus = await client.getPayment('pay-1').catch((e: unknown) => e);
    const otherPayment = await client.getPayment('pay-9').catch((e: unknown) => e);

    expect(badStatus).to.be.instanceOf(PeerContractError);
    expect(otherPayment).to.be.instanceOf(PeerContractError);
    expect((otherPayment as Error).message).to.match(/for payment pay-1, not pay-9/);
  });

  it('when Payments answers 503, then PeerUnavailableError', async () => {
    peer.script([{ status: 503 }]);

    expect(await client.getPayment('pay-1').catch((e: unknown) => e)).to.be.instanceOf(
      PeerUnavailableError,
    );
  });
});
