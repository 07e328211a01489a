import { expect } from 'chai';
import { PeerContractError, PeerUnavailableError } from '../../lib/domain/errors.js';
import { createPaymentsClient, type PaymentsClient } from '../../lib/peers/payments.js';
import { startRecordingPeer, type RecordingPeer } from '../../scripts/testkit/recording-peer.js';

/**
 * The Payments client's side of the contract the payment checks rely on, against a real local
 * HTTP server: the payment id kept from the request's answer, and the status GET.
 */
describe('Payments client: payment id and status', () => {
  let peer: RecordingPeer;
  let client: PaymentsClient;
  const ORDER = '0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b';
  const KEY = '6f1e2d3c-4b5a-4968-8776-655443322110';
  const request = { order_id: ORDER, amount: '5.00', idempotency_key: KEY };
  const status = {
    id: 'pay-1',
    user_id: null,
    order_id: ORDER,
    amount: '5.00',
    status: 'succeeded',
    idempotency_key: KEY,
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

  it('when Payments answers 201 with an empty body, then the request counts as created, without an id', async () => {
    peer.script([{ status: 201 }]);

    expect(await client.requestPayment(request)).to.deep.equal({
      outcome: 'created',
      paymentId: undefined,
    });
  });

  it('when the 201 body is not this request’s payment (no id, wrong types, another order or key, not JSON), then PeerContractError', async () => {
    const unusable: unknown[] = [
      {},
      { ...status, id: 42 },
      { ...status, id: '' },
      { ...status, id: 'pay\u0000' },
      { ...status, order_id: '0193a1b2-c3d4-7e5f-8a6b-000000000000' },
      { ...status, idempotency_key: 'k-1' },
      { ...status, amount: '5.01' },
      { ...status, amount: 5 },
      [status],
      'created',
    ];
    for (const body of unusable) {
      peer.script([{ status: 201, body }]);
      const err = await client.requestPayment(request).catch((e: unknown) => e);
      expect(err, JSON.stringify(body)).to.be.instanceOf(PeerContractError);
      expect((err as PeerContractError).retriable, 'retried by the job').to.equal(true);
    }
  });

  it('when the order id and key come back in upper case and the amount as 5.0, then they are the request’s own', async () => {
    peer.script([
      {
        status: 201,
        body: {
          ...status,
          order_id: ORDER.toUpperCase(),
          amount: '5.0',
          idempotency_key: KEY.toUpperCase(),
        },
      },
    ]);

    expect((await client.requestPayment(request)).paymentId).to.equal('pay-1');
  });

  it('when a 409 carries a payment of another order, then PeerContractError; a 409 with its own words has no id', async () => {
    peer.script([
      {
        status: 409,
        body: { ...status, order_id: '0193a1b2-c3d4-7e5f-8a6b-000000000000' },
        times: 1,
      },
      { status: 409, body: { detail: 'duplicate idempotency_key' } },
    ]);

    expect(await client.requestPayment(request).catch((e: unknown) => e)).to.be.instanceOf(
      PeerContractError,
    );
    expect(await client.requestPayment(request)).to.deep.equal({
      outcome: 'already-requested',
      paymentId: undefined,
    });
  });

  it('when the refund answer is about another payment or is not an object, then PeerContractError; an empty 201 or the refund itself is fine', async () => {
    const refunds = createPaymentsClient({
      url: new URL('/api/payments', peer.url).toString(),
      refundsUrl: new URL('/api/payments/refunds', peer.url).toString(),
      callbackUrl: 'http://127.0.0.1:1/cb',
      timeoutMs: 2000,
    });
    const refund = {
      payment_id: 'pay-1',
      order_id: ORDER,
      amount: '5.00',
      reason: 'cancelled',
      idempotency_key: KEY,
    };
    peer.script([
      { status: 201, body: { ...refund, payment_id: 'pay-2' }, times: 1 },
      { status: 201, body: ['refund'], times: 1 },
      { status: 201, times: 1 },
      { status: 201, body: { id: 'ref-1', status: 'pending', ...refund } },
    ]);

    expect(await refunds.requestRefund(refund).catch((e: unknown) => e)).to.be.instanceOf(
      PeerContractError,
    );
    expect(await refunds.requestRefund(refund).catch((e: unknown) => e)).to.be.instanceOf(
      PeerContractError,
    );
    expect(await refunds.requestRefund(refund)).to.equal('created');
    expect(await refunds.requestRefund(refund)).to.equal('created');
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

  it('when the answer breaks the contract (another status, another payment, an order id or key that is no UUID, an empty body), then PeerContractError', async () => {
    peer.script([
      { status: 200, body: { ...status, status: 'refunded' }, times: 1 },
      { status: 200, body: { ...status, order_id: 'o-1' }, times: 1 },
      { status: 200, body: { ...status, idempotency_key: 'k-1' }, times: 1 },
      { status: 200, times: 1 },
      { status: 200, body: status },
    ]);

    const badStatus = await client.getPayment('pay-1').catch((e: unknown) => e);
    const badOrder = await client.getPayment('pay-1').catch((e: unknown) => e);
    const badKey = await client.getPayment('pay-1').catch((e: unknown) => e);
    const empty = await client.getPayment('pay-1').catch((e: unknown) => e);
    const otherPayment = await client.getPayment('pay-9').catch((e: unknown) => e);

    for (const err of [badStatus, badOrder, badKey, empty, otherPayment]) {
      expect(err).to.be.instanceOf(PeerContractError);
    }
    expect((otherPayment as Error).message).to.match(/for payment pay-1, not pay-9/);
  });

  it('when Payments answers 503, then PeerUnavailableError', async () => {
    peer.script([{ status: 503 }]);

    expect(await client.getPayment('pay-1').catch((e: unknown) => e)).to.be.instanceOf(
      PeerUnavailableError,
    );
  });
});
