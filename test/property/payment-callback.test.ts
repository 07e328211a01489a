import { expect } from 'chai';
import fc from 'fast-check';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';
import { startTestApi, type TestApi } from '../support/api.js';
import {
  anyText,
  assertBrokenBodiesRefused,
  expectRefusalNaming,
  expectRefusedWritingNothing,
  nonString,
  notAUuid,
  rowCounts,
  neverHangs,
  storable,
} from '../support/properties.js';
import {
  createOrderForPayment,
  newWebhookSecret,
  paymentCallbackBody,
  sendPaymentCallback,
  type OrderPaymentFacts,
} from '../support/webhooks.js';
import { PAYMENT_STATUSES } from '../../lib/orders/record-payment-result.js';

const TABLES = ['inbox', 'outbox'] as const;
const HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

const REQUIRED = ['id', 'order_id', 'amount', 'status', 'idempotency_key'] as const;
type Field = (typeof REQUIRED)[number] | 'user_id' | 'created_at';

/** For each field, values the callback schema must refuse. */
const invalid: Record<Field, fc.Arbitrary<unknown>> = {
  id: fc.oneof(fc.constant(''), fc.string({ minLength: 201, maxLength: 260 }), nonString),
  user_id: fc.oneof(
    fc.string({ minLength: 201, maxLength: 260 }),
    nonString.filter((v) => v !== null),
  ),
  order_id: notAUuid,
  amount: fc.oneof(
    fc.string({ maxLength: 12 }).filter((s) => !/^\d+(\.\d{1,2})?$/.test(s)),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom('1.234', '-1.00', '1e3', ' 1.00', '1,00', '.5', '0x10'),
    nonString,
  ),
  status: fc.oneof(
    fc
      .string({ maxLength: 12 })
      .filter((s) => !(PAYMENT_STATUSES as readonly string[]).includes(s)),
    fc.constantFrom('SUCCEEDED', 'Refunded', 'succeeded '),
    nonString,
  ),
  idempotency_key: notAUuid,
  created_at: fc.oneof(
    fc.string({ maxLength: 20 }).filter((s) => Number.isNaN(Date.parse(s))),
    nonString.filter((v) => v !== null),
  ),
};
const FIELDS = Object.keys(invalid) as Field[];

/** A matching callback for one of `orders`, broken in some fields (changed or removed). */
function brokenCallback(orders: () => OrderPaymentFacts[]) {
  return fc
    .tuple(
      fc.nat(),
      fc.uniqueArray(fc.constantFrom(...FIELDS), { minLength: 0, maxLength: 4 }),
      fc.uniqueArray(fc.constantFrom(...REQUIRED), { minLength: 0, maxLength: 2 }),
    )
    .filter(([, changed, removed]) => changed.length + removed.length > 0)
    .chain(([pick, changed, removed]) =>
      fc.tuple(...changed.map((f) => invalid[f])).map((values) => {
        const list = orders();
        const body: Record<string, unknown> = { ...paymentCallbackBody(list[pick % list.length]!) };
        changed.forEach((f, i) => (body[f] = values[i]));
        for (const f of removed) delete body[f];
        return { body, wrong: [...new Set<string>([...changed, ...removed])] };
      }),
    );
}

/**
 * A well-formed callback that may not match: another order, another amount, another key, any
 * status, and ids and user ids holding any text JSON can carry.
 */
function wellFormedCallback(orders: () => OrderPaymentFacts[]) {
  return fc
    .record({
      pick: fc.nat(),
      unknownOrder: fc.boolean(),
      otherAmount: fc.boolean(),
      otherKey: fc.boolean(),
      status: fc.constantFrom('pending', 'succeeded', 'failed'),
      id: anyText(60).filter((s) => s.length > 0),
      userId: fc.option(anyText(60)),
      randomUuid: fc.uuid({ version: 4 }),
      amount: fc.stringMatching(/^\d{1,6}(\.\d{1,2})?$/),
      extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue(), {
        maxKeys: 2,
      }),
    })
    .map((g) => {
      const list = orders();
      const order = list[g.pick % list.length]!;
      return {
        g,
        body: {
          ...g.extra,
          ...paymentCallbackBody(order, {
            id: g.id,
            user_id: g.userId,
            status: g.status as 'pending',
            ...(g.unknownOrder && { order_id: g.randomUuid }),
            ...(g.otherAmount && { amount: g.amount }),
            ...(g.otherKey && { idempotency_key: g.randomUuid }),
          }),
        },
        order,
      };
    });
}

describe('POST /api/v1/orders/payment-callback with generated input (fast-check)', function () {
  this.timeout(180000);

  describe('without a webhook secret', () => {
    let api: TestApi;
    const orders: OrderPaymentFacts[] = [];

    before(async () => {
      api = await startTestApi({ label: 'prop_callback' });
      for (let i = 0; i < 3; i++)
        orders.push(await createOrderForPayment(api, { quantity: i + 1 }));
    });
    after(async () => {
      await api?.stop();
    });

    it('when a callback is broken in any field, then 400 naming a broken field, and nothing is written', async () => {
      await assertBrokenBodiesRefused(
        api.db.pool,
        TABLES,
        brokenCallback(() => orders),
        (body) => sendPaymentCallback(api, body),
      );
    });

    it('when a well-formed callback may not match its order, then 200, or 404/409 naming what differs with nothing written', async () => {
      await fc.assert(
        fc.asyncProperty(
          wellFormedCallback(() => orders),
          async ({ g, body, order }) => {
            const before = await rowCounts(api.db.pool, TABLES);
            const res = await sendPaymentCallback(api, body);
            const after = await rowCounts(api.db.pool, TABLES);
            const amountDiffers = g.otherAmount && Number(g.amount) !== Number(order.amount);
            const unstorable = [
              ...(storable(g.id) ? [] : ['id']),
              ...(g.userId === null || storable(g.userId) ? [] : ['user_id']),
            ];
            if (unstorable.length) {
              expectRefusalNaming(res, unstorable);
              expect(after).to.deep.equal(before);
            } else if (g.status === 'pending') {
              expect(res.status, JSON.stringify(res.body)).to.equal(200);
              expect(after).to.deep.equal(before);
            } else if (g.unknownOrder) {
              expectRefusalNaming(res, ['order_id'], [404]);
              expect(after).to.deep.equal(before);
            } else if (amountDiffers || g.otherKey) {
              const fields = [
                ...(amountDiffers ? ['amount'] : []),
                ...(g.otherKey ? ['idempotency_key'] : []),
              ];
              expectRefusalNaming(res, fields, [409]);
              expect(after).to.deep.equal(before);
            } else {
              expect(res.status, JSON.stringify(res.body)).to.equal(200);
              const grew = res.body.meta.duplicate ? 0 : 1;
              expect(after).to.deep.equal({
                inbox: before.inbox + grew,
                outbox: before.outbox + grew,
              });
            }
          },
        ),
        neverHangs(200),
      );
    });
  });

  describe('with a webhook secret', () => {
    const secret = newWebhookSecret();
    let api: TestApi;
    const orders: OrderPaymentFacts[] = [];

    before(async () => {
      api = await startTestApi({
        label: 'prop_callback_signed',
        env: { PAYMENTS_WEBHOOK_SECRET: secret },
      });
      for (let i = 0; i < 3; i++)
        orders.push(await createOrderForPayment(api, { quantity: i + 1 }));
    });
    after(async () => {
      await api?.stop();
    });

    /** A header value: the right one, absent, empty, or anything printable. */
    const headerChoice = fc.oneof(
      { weight: 2, arbitrary: fc.constant<'right'>('right') },
      fc.constant<'absent'>('absent'),
      fc.constant(''),
      fc.stringMatching(/^[\x20-\x7e]{1,80}$/),
      fc.integer({ min: -1e12, max: 1e13 }).map(String),
      fc.base64String({ minLength: 4, maxLength: 60 }).map((b) => `v1,${b}`),
    );

    it('when any signature header is missing or not the right one, then 401 naming a header, and nothing is written', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.nat(),
          fc.tuple(headerChoice, headerChoice, headerChoice),
          async (pick, choices) => {
            fc.pre(choices.some((c) => c !== 'right'));
            const raw = JSON.stringify(paymentCallbackBody(orders[pick % orders.length]!));
            const signed = signedWebhookHeaders(secret, raw);
            const headers: Record<string, string> = {};
            HEADERS.forEach((name, i) => {
              const c = choices[i]!;
              if (c === 'right') headers[name] = signed[name]!;
              else if (c !== 'absent') headers[name] = c;
            });
            // A header that differs may still be right (a timestamp a second off re-signed).
            fc.pre(HEADERS.some((h) => headers[h] !== signed[h]));
            await expectRefusedWritingNothing(
              api.db.pool,
              TABLES,
              () => sendPaymentCallback(api, raw, { headers }),
              [...HEADERS],
              [401],
            );
          },
        ),
        neverHangs(150),
      );
    });

    it('when the signed bytes are changed in transit, then 401, and nothing is written', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.nat(),
          fc.nat(),
          fc.oneof(anyText(3), fc.constant('')),
          fc.integer({ min: 0, max: 3 }),
          async (pick, at, insert, removeCount) => {
            const raw = JSON.stringify(paymentCallbackBody(orders[pick % orders.length]!));
            const i = at % raw.length;
            const sent = raw.slice(0, i) + insert + raw.slice(i + removeCount);
            fc.pre(Buffer.compare(Buffer.from(sent), Buffer.from(raw)) !== 0);
            await expectRefusedWritingNothing(
              api.db.pool,
              TABLES,
              () => sendPaymentCallback(api, raw, { secret, sentBody: sent }),
              ['webhook-signature', 'body'],
              [401],
            );
          },
        ),
        neverHangs(150),
      );
    });

    it('when a broken callback is signed properly, then 400 naming a broken field, and nothing is written', async () => {
      await fc.assert(
        fc.asyncProperty(
          brokenCallback(() => orders),
          async ({ body, wrong }) => {
            await expectRefusedWritingNothing(
              api.db.pool,
              TABLES,
              () => sendPaymentCallback(api, body, { secret }),
              wrong,
            );
          },
        ),
        neverHangs(100),
      );
    });

    it('when arbitrary text comes unsigned or signed with another secret, then 401, and nothing is written', async () => {
      const other = newWebhookSecret();
      await fc.assert(
        fc.asyncProperty(anyText(200), fc.boolean(), async (text, signIt) => {
          await expectRefusedWritingNothing(
            api.db.pool,
            TABLES,
            () => sendPaymentCallback(api, text, signIt ? { secret: other } : {}),
            [...HEADERS, 'body'],
            [401],
          );
        }),
        neverHangs(100),
      );
    });
  });
});
