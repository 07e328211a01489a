import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { parseShippingResponse } from '../../lib/kafka/parse-shipping-response.js';
import { paymentsRefundsUrl } from '../../lib/platform/config.js';

describe('shipping messages and the refunds URL', () => {
  it("when this service's own requests are read back from a shared topic, then both kinds are skipped", () => {
    const orderId = randomUUID();
    const paid = {
      event_type: 'order.paid',
      order_id: orderId,
      item_id: randomUUID(),
      quantity: 1,
    };
    const cancel = {
      event_type: 'order.cancel_requested',
      order_id: orderId,
      idempotency_key: 'k',
    };

    expect(parseShippingResponse(JSON.stringify(paid))).to.deep.equal({
      kind: 'skip',
      reason: 'own shipping request (order.paid)',
    });
    expect(parseShippingResponse(JSON.stringify(cancel))).to.deep.equal({
      kind: 'skip',
      reason: 'own shipping request (order.cancel_requested)',
    });
  });

  it('when Shipping answers order.cancelled for an order it never saw, without item or shipment, then it is a result', () => {
    const orderId = randomUUID();
    const verdict = parseShippingResponse(
      JSON.stringify({
        event_type: 'order.cancelled',
        order_id: orderId,
        shipment_id: null,
        reason: 'cancelled before the shipping request arrived',
      }),
    );

    expect(verdict.kind).to.equal('result');
    if (verdict.kind !== 'result') return;
    expect(verdict.result).to.include({
      eventType: 'order.cancelled',
      orderId,
      shipmentId: null,
      messageKey: `order.cancelled:${orderId}:`,
    });
  });

  it('when PAYMENTS_REFUNDS_API_URL is unset, then refunds go to /refunds under the payments URL, query kept', () => {
    expect(paymentsRefundsUrl({ paymentsUrl: 'http://pay.example/api/payments/' })).to.equal(
      'http://pay.example/api/payments/refunds',
    );
    expect(paymentsRefundsUrl({ paymentsUrl: 'http://pay.example/api/payments?v=2' })).to.equal(
      'http://pay.example/api/payments/refunds?v=2',
    );
    expect(
      paymentsRefundsUrl({
        paymentsUrl: 'http://pay.example/api/payments',
        paymentsRefundsUrl: 'http://refunds.example/r',
      }),
    ).to.equal('http://refunds.example/r');
    expect(paymentsRefundsUrl({})).to.equal(undefined);
  });
});
