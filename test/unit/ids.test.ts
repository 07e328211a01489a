import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createOrderBody, orderIdParams, paymentCallbackBody } from '../../api/schemas.js';
import { validate } from '../../api/validate.js';
import { isCanonicalUuid } from '../../lib/domain/ids.js';
import { canonicalUuid } from '../../lib/platform/id-schema.js';
import { ValidationError } from '../../lib/domain/errors.js';
import { parseShippingResponse } from '../../lib/kafka/parse-shipping-response.js';

const ID = '0190a0a0-0000-7000-8000-000000000002';

/** Spellings joi's guid() takes; the first three Postgres's uuid refuses, the rest it takes. */
const NOT_CANONICAL = [
  '0190a0a0:0000:7000:8000:000000000002',
  '[0190a0a0-0000-7000-8000-000000000002]',
  '(0190a0a0-0000-7000-8000-000000000002)',
  '{0190a0a0-0000-7000-8000-000000000002}',
  '0190a0a0000070008000000000000002',
  '0190a0a0-00007000-8000-000000000002',
  ` ${ID}`,
  `${ID}\n`,
];

describe('canonical ids (lib/domain/ids.ts)', () => {
  it('when an id is 8-4-4-4-12 hex in any case and of any version, then it is taken', () => {
    for (const id of [
      ID,
      ID.toUpperCase(),
      randomUUID(),
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '0190a0a0-0000-0000-0000-000000000002', // version 0
      '0190a0a0-0000-f000-c000-000000000002', // version 15, another variant
    ]) {
      expect(isCanonicalUuid(id), id).to.equal(true);
      expect(canonicalUuid.validate(id).error, id).to.equal(undefined);
    }
  });

  it('when an id is in another spelling joi guid() or Postgres takes, then it is refused', () => {
    for (const id of NOT_CANONICAL) {
      expect(isCanonicalUuid(id), id).to.equal(false);
      expect(canonicalUuid.validate(id).error?.message, id).to.match(
        /must be a UUID in the canonical 8-4-4-4-12 hex form/,
      );
    }
    expect(isCanonicalUuid(undefined)).to.equal(false);
  });

  it('when the API is given a non-canonical id in the path or the body, then validation names the field', () => {
    for (const id of NOT_CANONICAL) {
      expect(() => validate(orderIdParams, { id }), id)
        .to.throw(ValidationError)
        .with.property('field', 'id');
      const body = { item_id: ID, quantity: 1, user_id: 'u', idempotency_key: id };
      expect(() => validate(createOrderBody, body), id)
        .to.throw(ValidationError)
        .with.property('field', 'idempotency_key');
      expect(() => validate(createOrderBody, { ...body, idempotency_key: ID, item_id: id }), id)
        .to.throw(ValidationError)
        .with.property('field', 'item_id');
      const callback = {
        id: 'pay-1',
        order_id: id,
        amount: '1.00',
        status: 'succeeded',
        idempotency_key: ID,
      };
      expect(() => validate(paymentCallbackBody, callback), id)
        .to.throw(ValidationError)
        .with.property('field', 'order_id');
    }
  });

  it('when a shipping response carries a non-canonical order_id or item_id, then it is a dead letter naming the field', () => {
    for (const id of NOT_CANONICAL) {
      const shipped = { event_type: 'order.shipped', order_id: id, shipment_id: 's' };
      const byOrder = parseShippingResponse(JSON.stringify(shipped));
      expect(byOrder.kind, id).to.equal('dead-letter');
      expect(byOrder.kind === 'dead-letter' && byOrder.reason, id).to.match(/"order_id" must be/);
      const byItem = parseShippingResponse(
        JSON.stringify({ ...shipped, order_id: ID, item_id: id }),
      );
      expect(byItem.kind === 'dead-letter' && byItem.reason, id).to.match(/"item_id" must be/);
    }
  });

  it('when a shipping response carries an upper-case order_id, then it is taken, as the lower-case id', () => {
    const parsed = parseShippingResponse(
      JSON.stringify({ event_type: 'order.shipped', order_id: ID.toUpperCase(), shipment_id: 's' }),
    );
    expect(parsed.kind === 'result' && parsed.result.orderId).to.equal(ID);
  });
});
