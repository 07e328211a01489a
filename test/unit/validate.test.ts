import { expect } from 'chai';
import Joi from 'joi';
import { createOrderBody, type CreateOrderRequest } from '../../api/schemas.js';
import { validate } from '../../api/validate.js';
import { ValidationError } from '../../lib/domain/errors.js';

describe('validate', () => {
  it('when the input fits the schema, then it returns the value typed by the schema', () => {
    const body = {
      item_id: '0190a0a0-0000-7000-8000-000000000001',
      quantity: 2,
      user_id: 'u1',
      idempotency_key: '0190a0a0-0000-7000-8000-000000000002',
    };
    const value: CreateOrderRequest = validate(createOrderBody, body);
    expect(value).to.deep.equal(body);
  });

  it('when fields are bad, then it throws a ValidationError naming each of them', () => {
    expect(() => validate(createOrderBody, { quantity: '2' }))
      .to.throw(ValidationError)
      .with.property('problems')
      .that.satisfies((ps: { field: string }[]) =>
        ['item_id', 'quantity', 'user_id', 'idempotency_key'].every((f) =>
          ps.some((p) => p.field === f),
        ),
      );
  });

  it('when parsed JSON carries a "__proto__" key, then it is refused by name (joi alone would drop it silently)', () => {
    const body = JSON.parse(
      '{"item_id":"0190a0a0-0000-7000-8000-000000000001","quantity":2,"user_id":"u1",' +
        '"idempotency_key":"0190a0a0-0000-7000-8000-000000000002","__proto__":{"admin":true}}',
    ) as object;
    expect(() => validate(createOrderBody, body))
      .to.throw(ValidationError)
      .with.property('problems')
      .that.deep.equals([{ field: '__proto__', message: '__proto__ is not allowed' }]);
  });

  // Compile-time only: `npm run typecheck` fails if any of these stops being an error.
  function _typeChecks() {
    // @ts-expect-error a route cannot name a type of its own: validate's type comes from the schema
    validate<{ item_id: number }>(createOrderBody, {});
    // @ts-expect-error a strict schema must give every key of its type
    Joi.object<{ a: string; b: number }, true>({ a: Joi.string() });
    // @ts-expect-error and each key a schema of the same kind
    Joi.object<{ a: string }, true>({ a: Joi.number() });
    // @ts-expect-error and no key the type lacks
    Joi.object<{ a: string }, true>({ a: Joi.string(), b: Joi.string() });
    const untyped = validate(Joi.object({ a: Joi.string() }), {});
    // @ts-expect-error a schema that states no type gives nothing to use, rather than `any`
    return untyped.a;
  }
});
