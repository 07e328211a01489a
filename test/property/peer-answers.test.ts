import { expect } from 'chai';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { paymentCheck, paymentRequested } from '../../db/outbox/events.js';
import { checkPayment } from '../../lib/orders/check-payment.js';
import { createPaymentsClient } from '../../lib/peers/payments.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createMetrics } from '../../lib/platform/metrics.js';
import { startTestApi, testConfig, type TestApi, workerEnv } from '../support/api.js';
import {
  startAnsweringPeer,
  type AnsweringPeer,
  type RawAnswer,
} from '../support/answering-peer.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { insertOrder } from '../support/orders.js';
import {
  anyText,
  neverHangs,
  nonString,
  rowCounts,
  storable,
  uuidLike,
} from '../support/properties.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';

/**
 * A peer's answer is input too: generated answers (random JSON, wrong types, empty and truncated
 * bodies, answers about another item or payment) served by a real local peer. Catalog's reach the
 * API: 502 in the envelope, never a 5xx of its own, nothing written. Payments' reach the payments
 * job: retried (the same idempotency key sent again), never completed on an answer it cannot use.
 */

const json = (body: unknown): RawAnswer => ({ status: 200, text: JSON.stringify(body) });

/** A JSON text cut short somewhere inside: never the whole of it. */
const truncated = (text: string) =>
  fc.integer({ min: 0, max: text.length - 1 }).map((n) => text.slice(0, n));

/** Text that is not JSON, sent as JSON or as what it is. */
const notJson = fc.oneof(
  fc.constantFrom('<html><body>502 Bad Gateway</body></html>', 'OK', 'null,', '{"id":'),
  anyText(60).filter((t) => {
    try {
      JSON.parse(t);
      return false;
    } catch {
      return true;
    }
  }),
);

const otherUuid = (than: string) => fc.uuid().filter((u) => u.toLowerCase() !== than.toLowerCase());

describe('peer answers, generated (fast-check)', function () {
  this.timeout(180_000);

  describe('Catalog answers to POST /api/v1/orders', () => {
    const TABLES = ['orders', 'order_status_history', 'outbox'] as const;
    let api: TestApi;
    let catalog: AnsweringPeer;
    let next: RawAnswer = { status: 500, text: '' };

    before(async () => {
      catalog = await startAnsweringPeer(() => next);
      api = await startTestApi({
        label: 'prop_catalog_answers',
        env: { CATALOG_SERVICE_API_URL: `${catalog.url}/api/items` },
      });
    });
    after(async () => {
      await api?.stop();
      await catalog?.stop();
    });

    const item = (id: string) => ({
      id,
      name: 'Mug',
      price: '2.50',
      available_qty: 10,
      created_at: '2026-01-01T00:00:00Z',
    });

    /** Catalog's answers for `id` that the service cannot use. */
    const unusable = (id: string): fc.Arbitrary<RawAnswer> =>
      fc.oneof(
        fc.constant({ status: 200, text: '' }),
        truncated(JSON.stringify(item(id))).map((text) => ({ status: 200, text })),
        notJson.map((text) => ({ status: 200, text })),
        notJson.map((text) => ({ status: 200, text, contentType: 'text/html' })),
        // Any JSON but an object (an object would need every field right to be usable).
        fc
          .jsonValue()
          .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
          .map(json),
        // An object with random keys: never id, name, price and available_qty all right.
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue(), { maxKeys: 6 }).map(json),
        // The item, one field of the wrong type or missing.
        fc
          .tuple(
            fc.constantFrom('id', 'name', 'price', 'available_qty'),
            fc.option(nonString, { nil: undefined }),
          )
          .map(([field, value]) => {
            const body: Record<string, unknown> = { ...item(id) };
            if (value === undefined) delete body[field];
            // A number is a price's other form and a quantity's own: give those a string.
            else
              body[field] =
                typeof value === 'number' && field !== 'id' && field !== 'name' ? 'x' : value;
            return json(body);
          }),
        fc
          .oneof(fc.constant(-1), fc.constant(1.5), fc.constant(1e300), fc.constant('10'))
          .map((q) => json({ ...item(id), available_qty: q })),
        fc
          .oneof(
            fc.constantFrom(
              '2.505',
              '-1.00',
              '1e3',
              'NaN',
              '',
              ' 2.50',
              '99999999999999999999999.99',
            ),
            fc.constantFrom(-2.5, 1e21, 2.505),
          )
          .map((price) => json({ ...item(id), price })),
        // About another item: another UUID, or this one spelt some other way.
        otherUuid(id).map((other) => json({ ...item(other), price: '0.01' })),
        uuidLike.map((odd) => json({ ...item(id), id: odd })),
        // A name Postgres cannot keep (it goes into the notification's payload).
        anyText(20)
          .filter((s) => !storable(s))
          .map((name) => json({ ...item(id), name })),
      );

    const order = (itemId: string) => ({
      item_id: itemId,
      quantity: 1,
      user_id: 'user-1',
      idempotency_key: randomUUID(),
    });

    async function expectUnusable(itemId: string): Promise<void> {
      const before = await rowCounts(api.db.pool, TABLES);
      const res = await api.request('POST', '/api/v1/orders', order(itemId));
      const what = `${res.status} ${JSON.stringify(res.body)}`;
      expect(res.status, what).to.equal(502);
      expect(res.body, what).to.have.keys('data', 'meta', 'errors');
      expect(res.body.data, what).to.equal(null);
      expect(res.body.errors, what).to.deep.equal([
        {
          code: 'peer_contract_violation',
          field: null,
          message: 'an upstream service answered in a way this service could not use',
        },
      ]);
      expect(await rowCounts(api.db.pool, TABLES)).to.deep.equal(before);
    }

    it('when Catalog answers 200 with an empty body, then 502 in the envelope, and nothing is written', async () => {
      next = { status: 200, text: '' };
      await expectUnusable(randomUUID());
    });

    it('when Catalog answers about another item, then 502, and no order is written at that item’s price', async () => {
      const asked = randomUUID();
      next = json({ ...item(randomUUID()), price: '0.01' });
      await expectUnusable(asked);
    });

    it('when Catalog’s answer is generated garbage, then 502 in the envelope, never another 5xx, and nothing is written', async () => {
      const cases = fc.uuid().chain((id) => fc.tuple(fc.constant(id), unusable(id)));
      await fc.assert(
        fc.asyncProperty(cases, async ([itemId, answer]) => {
          next = answer;
          await expectUnusable(itemId);
        }),
        neverHangs(200),
      );
    });

    it('when Catalog’s answer is usable (the id in any case, a price as text or number), then the order is written at that price', async () => {
      const usable = fc.record({
        id: fc.uuid(),
        upper: fc.boolean(),
        cents: fc.integer({ min: 1, max: 99_999 }),
        asNumber: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(usable, async ({ id, upper, cents, asNumber }) => {
          const price = (cents / 100).toFixed(2);
          next = json({
            ...item(upper ? id.toUpperCase() : id),
            // 12.3 as a JSON number is the text "12.3"; the service takes it exactly.
            price: asNumber ? Number(price) : price,
          });
          const res = await api.request('POST', '/api/v1/orders', order(id));
          expect(res.status, JSON.stringify(res.body)).to.equal(201);
          expect(res.body.data).to.include({ item_id: id, amount: price });
        }),
        neverHangs(30),
      );
    });
  });

  describe('Payments answers to the payments job', () => {
    let tdb: TestDatabase;
    let redis: TestRedisPrefix;
    let payments: AnsweringPeer;
    let worker: RunningWorker;
    /** The answer for each order's payment request, by order id. */
    const answers = new Map<string, RawAnswer>();

    before(async () => {
      tdb = await createTestDatabase('prop_payments_answers');
      redis = createTestRedisPrefix();
      payments = await startAnsweringPeer((req) => {
        const orderId = (req.body as { order_id?: string } | undefined)?.order_id ?? '';
        return answers.get(orderId) ?? { status: 500, text: '' };
      });
      const config = testConfig({
        ...workerEnv(tdb, redis, { payments, notifications: { url: 'http://127.0.0.1:9' } }),
        PAYMENTS_CALLBACK_URL: 'http://127.0.0.1:1/api/v1/orders/payment-callback',
        PEER_TIMEOUT_MS: '2000',
        JOB_BACKOFF_MS: '5',
        JOB_BACKOFF_MAX_MS: '40',
        SHUTDOWN_TIMEOUT_MS: '2000',
      });
      worker = await startWorker(config, {
        database: tdb,
        metrics: createMetrics({ defaults: false }),
        logger: silentLogger(),
      });
    });
    after(async () => {
      await worker?.stop();
      await payments?.stop();
      await redis?.flush();
      await tdb?.drop();
    });

    interface Seen {
      requests: number;
      keys: string[];
      completed: boolean;
      failed: boolean;
      paymentId: string | null;
      accepted: boolean;
      checks: number;
    }

    async function seen(orderId: string, rowId: number): Promise<Seen> {
      const sent = payments.requests.filter(
        (r) => (r.body as { order_id?: string } | undefined)?.order_id === orderId,
      );
      const { rows } = await tdb.pool.query<{
        completed: boolean;
        failed: boolean;
        payment_id: string | null;
        accepted: boolean;
        checks: number;
      }>(
        `select (select completed_at is not null from outbox where id = $2) as completed,
                (select failed_at is not null from outbox where id = $2) as failed,
                o.requested_payment_id as payment_id,
                o.payment_accepted_at is not null as accepted,
                (select count(*) from outbox where queue = 'payment-checks'
                   and order_id = $1)::int as checks
         from orders o where o.id = $1`,
        [orderId, rowId],
      );
      const row = rows[0]!;
      return {
        requests: sent.length,
        keys: [
          ...new Set(sent.map((r) => (r.body as { idempotency_key: string }).idempotency_key)),
        ],
        completed: row.completed,
        failed: row.failed,
        paymentId: row.payment_id,
        accepted: row.accepted,
        checks: row.checks,
      };
    }

    async function requestPaymentFor(answer: RawAnswer) {
      const order = await insertOrder(tdb.db);
      answers.set(order.id, answer);
      const [rowId] = await tdb.db.transaction((tx) =>
        insertOutboxRows(tx, [paymentRequested(order)]),
      );
      return { order, rowId: rowId! };
    }

    const pending = (order: { id: string; amount: string; paymentIdempotencyKey: string }) => ({
      id: `pay-${order.id.slice(0, 8)}`,
      user_id: null,
      order_id: order.id,
      amount: order.amount,
      status: 'pending',
      idempotency_key: order.paymentIdempotencyKey,
      created_at: '2026-12-07T10:00:00.000Z',
    });

    // Answers are generated about these stand-ins, then each case's real ids are put in their
    // place (where the text still holds them whole), so a failing answer shrinks like any other.
    const STAND_IN = {
      id: '11111111-1111-4111-8111-111111111111',
      amount: '5.00',
      paymentIdempotencyKey: '22222222-2222-4222-8222-222222222222',
    };
    const forOrder = (
      answer: RawAnswer,
      order: { id: string; paymentIdempotencyKey: string },
    ): RawAnswer => ({
      ...answer,
      text: answer.text
        .replaceAll(STAND_IN.id, order.id)
        .replaceAll(STAND_IN.paymentIdempotencyKey, order.paymentIdempotencyKey),
    });

    /** Payments' 201s a job cannot use, about the stand-in order's pending payment. */
    const p = pending(STAND_IN);
    const created = (body: unknown): RawAnswer => ({ status: 201, text: JSON.stringify(body) });
    const unusable: fc.Arbitrary<RawAnswer> = fc.oneof(
      truncated(JSON.stringify(p))
        .filter((t) => t.length > 0)
        .map((text) => ({ status: 201, text })),
      notJson.filter((t) => t.length > 0).map((text) => ({ status: 201, text })),
      fc.constant({ status: 201, text: '<html>created</html>', contentType: 'text/html' }),
      // Any JSON but an object carrying a string id.
      fc
        .jsonValue()
        .filter(
          (v) =>
            typeof v !== 'object' ||
            v === null ||
            Array.isArray(v) ||
            typeof (v as { id?: unknown }).id !== 'string',
        )
        .map(created),
      // The payment's id of the wrong type, empty, too long, or text Postgres cannot keep.
      fc
        .oneof(
          nonString,
          fc.constant(''),
          fc.string({ minLength: 201, maxLength: 260 }),
          anyText(20).filter((s) => !storable(s)),
        )
        .map((id) => created({ ...p, id })),
      // About another order or key: another UUID, or not a UUID at all.
      fc
        .tuple(
          fc.constantFrom('order_id', 'idempotency_key'),
          fc.oneof(otherUuid(p.order_id), uuidLike, nonString),
        )
        .filter(([field, v]) => typeof v !== 'string' || v.toLowerCase() !== p[field].toLowerCase())
        .map(([field, v]) => created({ ...p, [field]: v })),
      fc
        .constantFrom('5.01', '50.00', '-5.00', '5,00', '', 5)
        .map((amount) => created({ ...p, amount })),
    );

    it('when Payments’ 201 is generated garbage, then the job retries with the same idempotency key and completes nothing; once Payments answers with the payment, the order gets its id', async () => {
      await fc.assert(
        fc.asyncProperty(unusable, async (generated) => {
          const { order, rowId } = await requestPaymentFor({ status: 500, text: '' });
          const answer = forOrder(generated, order);
          answers.set(order.id, answer);
          await waitFor(async () => (await seen(order.id, rowId)).requests >= 2, {
            what: `a second payment request for ${order.id} after ${JSON.stringify(answer)}`,
          });
          const meanwhile = await seen(order.id, rowId);
          expect(meanwhile, JSON.stringify(answer)).to.deep.include({
            keys: [order.paymentIdempotencyKey],
            completed: false,
            failed: false,
            paymentId: null,
            accepted: false,
            checks: 0,
          });

          // An idempotent Payments answers the repeated key with the payment the first made.
          const payment = pending(order);
          answers.set(order.id, { status: 409, text: JSON.stringify(payment) });
          await waitFor(async () => (await seen(order.id, rowId)).completed, {
            what: `the payments row of ${order.id} completed`,
          });
          expect(await seen(order.id, rowId)).to.deep.include({
            keys: [order.paymentIdempotencyKey],
            failed: false,
            paymentId: payment.id,
            accepted: true,
            checks: 1,
          });
        }),
        neverHangs(60),
      );
    });

    it('when Payments answers 201 with no body (all the original contract promises), then the job completes without a payment id', async () => {
      const { order, rowId } = await requestPaymentFor({ status: 201, text: '' });

      await waitFor(async () => (await seen(order.id, rowId)).completed, {
        what: `the payments row of ${order.id} completed`,
      });

      expect(await seen(order.id, rowId)).to.deep.include({
        requests: 1,
        paymentId: null,
        accepted: true,
        checks: 1,
      });
    });
  });
  describe('Payments answers to a payment check', () => {
    let tdb: TestDatabase;
    let payments: AnsweringPeer;
    let next: RawAnswer = { status: 500, text: '' };
    const policy = { confirmAfterMs: 60_000, expireAfterMs: 3_600_000, maxIntervalMs: 600_000 };
    const PAYMENT = 'pay-7';

    before(async () => {
      tdb = await createTestDatabase('prop_payment_status');
      payments = await startAnsweringPeer(() => next);
    });
    after(async () => {
      await payments?.stop();
      await tdb?.drop();
    });

    const STAND_IN = {
      id: '33333333-3333-4333-8333-333333333333',
      key: '44444444-4444-4444-8444-444444444444',
    };
    const status = {
      id: PAYMENT,
      user_id: null,
      order_id: STAND_IN.id,
      amount: '5.00',
      status: 'succeeded',
      idempotency_key: STAND_IN.key,
      created_at: '2026-12-07T10:00:00.000Z',
    };
    const ok = (body: unknown): RawAnswer => json(body);
    /** Status answers a check cannot take in: garbage, or a final answer about something else. */
    const unusable: fc.Arbitrary<RawAnswer> = fc.oneof(
      fc.constant({ status: 200, text: '' }),
      truncated(JSON.stringify(status)).map((text) => ({ status: 200, text })),
      notJson.map((text) => ({ status: 200, text })),
      fc
        .jsonValue()
        .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
        .map(ok),
      fc
        .tuple(
          fc.constantFrom('id', 'order_id', 'amount', 'status', 'idempotency_key'),
          fc.option(nonString, { nil: undefined }),
        )
        .map(([field, value]) => {
          const body: Record<string, unknown> = { ...status };
          if (value === undefined) delete body[field];
          else body[field] = value;
          return ok(body);
        }),
      fc.constantFrom('refunded', 'SUCCEEDED', '').map((st) => ok({ ...status, status: st })),
      // Another payment, order, key or amount, or ids that are no UUIDs.
      fc.constantFrom('pay-8', 'pay-7 ', '').map((id) => ok({ ...status, id })),
      fc
        .tuple(fc.constantFrom('order_id', 'idempotency_key'), fc.oneof(fc.uuid(), uuidLike))
        .map(([field, v]) => ok({ ...status, [field]: v })),
      fc.constantFrom('5.01', '5.001', '-5.00', '5,00').map((amount) => ok({ ...status, amount })),
    );

    it('when Payments’ status answer is unusable, then the check schedules the next check and the order stays new (no answer yet)', async () => {
      await fc.assert(
        fc.asyncProperty(unusable, async (generated) => {
          const order = await insertOrder(tdb.db, {
            requestedPaymentId: PAYMENT,
            paymentAcceptedAt: new Date(),
          });
          next = {
            ...generated,
            text: generated.text
              .replaceAll(STAND_IN.id, order.id)
              .replaceAll(STAND_IN.key, order.paymentIdempotencyKey),
          };
          const [rowId] = await tdb.db.transaction((tx) =>
            insertOutboxRows(tx, [paymentCheck(order.id, 1, 60_000)]),
          );
          const { rows } = await tdb.pool.query<{ job_id: string }>(
            'select job_id from outbox where id = $1',
            [rowId],
          );

          const outcome = await checkPayment(
            {
              db: tdb.db,
              payments: createPaymentsClient({
                url: `${payments.url}/api/payments`,
                callbackUrl: 'http://127.0.0.1:1/cb',
                timeoutMs: 2000,
              }),
              policy,
            },
            { orderId: order.id, attempt: 1, job: { id: rowId!, jobId: rows[0]!.job_id } },
          );

          expect(outcome, JSON.stringify(next)).to.deep.include({ kind: 'rechecking', attempt: 2 });
          const after = await tdb.pool.query<{ status: string; checks: number; inbox: number }>(
            `select o.status,
                    (select count(*) from outbox where queue = 'payment-checks'
                       and order_id = o.id)::int as checks,
                    (select count(*) from inbox where payload->>'order_id' = o.id::text)::int as inbox
             from orders o where o.id = $1`,
            [order.id],
          );
          expect(after.rows[0]).to.deep.equal({ status: 'new', checks: 2, inbox: 0 });
        }),
        neverHangs(100),
      );
    });
  });
});
