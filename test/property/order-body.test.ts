import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_QUANTITY } from '../../api/schemas.js';
import { startTestApi } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';
import { KEYBOARD, LIMITED, STICKER } from '../support/factories.js';
import {
  anyText,
  assertBrokenBodiesRefused,
  expectRefusalNaming,
  expectRefusedWritingNothing,
  nonString,
  notAUuid,
  rowCounts,
  neverHangs,
  uuidLike,
} from '../support/properties.js';

const TABLES = ['orders', 'order_status_history', 'outbox'] as const;
const FIELDS = ['item_id', 'quantity', 'user_id', 'idempotency_key'] as const;
type Field = (typeof FIELDS)[number];

const validBody = fc.record({
  item_id: fc.oneof(fc.constantFrom(STICKER.id, KEYBOARD.id, LIMITED.id), fc.uuid({ version: 4 })),
  quantity: fc.integer({ min: 1, max: MAX_QUANTITY }),
  user_id: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
  idempotency_key: fc.uuid({ version: 4 }),
});

/** For each field, values it must refuse. */
const invalid: Record<Field, fc.Arbitrary<unknown>> = {
  item_id: notAUuid,
  quantity: fc.oneof(
    fc.integer({ max: 0 }),
    fc.integer({ min: MAX_QUANTITY + 1 }),
    fc.double({ min: 1.0001, max: 9999.5, noNaN: true }).filter((d) => !Number.isInteger(d)),
    fc.integer({ min: 1, max: 100 }).map(String),
    fc.string({ maxLength: 10 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 2 }),
  ),
  user_id: fc.oneof(
    fc.constant(''),
    fc.stringMatching(/^[\x21-\x7e]{129,300}$/),
    // At least one character outside printable ASCII without spaces.
    fc
      .tuple(anyText(20), fc.constantFrom(' ', '\t', '\u0000', 'é', '\u{1F600}', '\n'), anyText(20))
      .map(([a, bad, b]) => `${a}${bad}${b}`),
    nonString,
  ),
  idempotency_key: notAUuid,
};

/** A valid body broken in one or more fields (changed, removed, or a key the API does not know). */
const brokenBody = fc
  .tuple(
    validBody,
    fc.uniqueArray(fc.constantFrom(...FIELDS), { minLength: 0, maxLength: 4 }),
    fc.uniqueArray(fc.constantFrom(...FIELDS), { minLength: 0, maxLength: 2 }),
    fc.option(
      fc.tuple(
        fc
          .oneof(
            fc.string({ minLength: 1, maxLength: 12 }),
            fc.constantFrom('__proto__', 'constructor', 'prototype', 'item_id.x', ''),
          )
          .filter((k) => !(FIELDS as readonly string[]).includes(k)),
        fc.jsonValue(),
      ),
    ),
  )
  .filter(([, changed, removed, extra]) => changed.length + removed.length > 0 || extra !== null)
  .chain(([body, changed, removed, extra]) =>
    fc.tuple(...changed.map((f) => invalid[f])).map((values) => {
      const out: Record<string, unknown> = { ...body };
      changed.forEach((f, i) => (out[f] = values[i]));
      for (const f of removed) delete out[f];
      // defineProperty: `out['__proto__'] = v` would set the prototype, not send the key.
      if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true });
      const wrong = [...new Set([...changed, ...removed, ...(extra ? [extra[0]] : [])])];
      return { body: out, wrong };
    }),
  );

describe('POST /api/v1/orders with generated bodies (fast-check)', function () {
  this.timeout(120000);

  const api = startedForSuite(() => startTestApi({ label: 'prop_order' }));

  it('when a body is broken in any field, then 400 naming a broken field, and nothing is written', async () => {
    await assertBrokenBodiesRefused(api.db.pool, TABLES, brokenBody, (body) =>
      api.request('POST', '/api/v1/orders', body),
    );
  });

  it('when the idempotency_key or item_id is a UUID spelt in another form than the canonical one, then 400 naming it, and nothing is written', async () => {
    await fc.assert(
      fc.asyncProperty(
        validBody,
        fc.constantFrom('idempotency_key', 'item_id'),
        uuidLike,
        async (body, field, odd) => {
          const { named } = await expectRefusedWritingNothing(
            api.db.pool,
            TABLES,
            () => api.request('POST', '/api/v1/orders', { ...body, [field]: odd }),
            [field],
          );
          expect(named).to.deep.equal([field]);
        },
      ),
      neverHangs(100),
    );
  });

  it('when the body is any JSON value but an object, then 400 naming the body, and nothing is written', async () => {
    const notAnObject = fc.oneof(
      fc.array(fc.jsonValue(), { maxLength: 3 }),
      fc.integer(),
      fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
      fc.constantFrom('null', 'true', 'false', '[]', '0'),
    );
    await fc.assert(
      fc.asyncProperty(notAnObject, async (value) => {
        const raw = typeof value === 'string' ? value : JSON.stringify(value);
        await expectRefusedWritingNothing(
          api.db.pool,
          TABLES,
          () =>
            api.request('POST', '/api/v1/orders', raw, {
              'content-type': 'application/json',
            }),
          ['body'],
        );
      }),
      neverHangs(100),
    );
  });

  it('when the body is arbitrary text sent as JSON, then 400 (malformed or invalid), never a 5xx, and nothing is written', async () => {
    await fc.assert(
      fc.asyncProperty(anyText(200), async (text) => {
        // Empty text is no body at all: every field is then missing.
        await expectRefusedWritingNothing(
          api.db.pool,
          TABLES,
          () =>
            api.request('POST', '/api/v1/orders', text, {
              'content-type': 'application/json',
            }),
          ['body', ...FIELDS],
        );
      }),
      neverHangs(150),
    );
  });

  it('when a body is valid, then 201 with one order, or 404 unknown item / 409 short stock with nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(validBody, async (body) => {
        const before = await rowCounts(api.db.pool, TABLES);
        const res = await api.request('POST', '/api/v1/orders', body);
        const after = await rowCounts(api.db.pool, TABLES);
        if (res.status === 201) {
          expect(res.body.data).to.include({ item_id: body.item_id, quantity: body.quantity });
          expect(after.orders).to.equal(before.orders + 1);
          return;
        }
        const known = [STICKER.id, KEYBOARD.id, LIMITED.id].includes(body.item_id);
        if (known) expectRefusalNaming(res, ['quantity'], [409]);
        else expectRefusalNaming(res, ['item_id'], [404]);
        expect(after).to.deep.equal(before);
      }),
      neverHangs(100),
    );
  });
});
