import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';
import { orderBody } from '../support/factories.js';
import { countRows } from '../../scripts/testkit/database.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startTestSystem } from '../support/system.js';
import { startedForSuite } from '../support/suite.js';

/**
 * Payment reconciliation and expiry through the service as the development mode runs it, with the
 * development Payments over HTTP told to drop every payment callback
 * (PAYMENTS_CALLBACK_DROP_RATE=1), and the check's timers shortened: the first check 1 s after
 * Payments accepted the request, then every second at most, expiry after 5 s.
 */
describe('payment checks and expiry', function () {
  this.timeout(60000);
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const CONFIRM_MS = 1000;
  const EXPIRE_MS = 5000;

  const sys = startedForSuite(() =>
    startTestSystem({
      PAYMENTS_WEBHOOK_SECRET: secret,
      PAYMENTS_CALLBACK_DROP_RATE: '1',
      PAYMENT_CONFIRM_AFTER_MS: String(CONFIRM_MS),
      PAYMENT_CHECK_MAX_INTERVAL_MS: '1000',
      PAYMENT_EXPIRE_AFTER_MS: String(EXPIRE_MS),
    }),
  );

  type Order = {
    status: string;
    refund_status: string | null;
    history: { status: string; reason: string; refund_status: string | null }[];
  };
  const get = async (id: string): Promise<Order> =>
    (await sys.request('GET', `/api/v1/orders/${id}`)).body.data;

  async function create(): Promise<string> {
    const created = await sys.request('POST', '/api/v1/orders', orderBody());
    expect(created.status).to.equal(201);
    return created.body.data.id as string;
  }

  /** The order's payment checks: which, how often run, failed attempts, done. */
  async function checkRows(orderId: string) {
    const { rows } = await sys.db.pool.query<{
      attempt: number;
      runs: number;
      errors: number;
      completed: boolean;
    }>(
      `select (payload->>'attempt')::int as attempt, attempts as runs,
              jsonb_array_length(attempt_errors) as errors, completed_at is not null as completed
       from outbox where order_id = $1 and queue = 'payment-checks' order by id`,
      [orderId],
    );
    return rows;
  }

  /** Waits (closely: the first check comes 1 s after) until Payments accepted the request. */
  async function untilAccepted(id: string): Promise<void> {
    await waitFor(
      async () =>
        (await countRows(
          sys.db.pool,
          `select count(*) as n from orders where id = $1 and payment_accepted_at is not null`,
          [id],
        )) === 1,
      { intervalMs: 10, what: 'Payments to accept the request' },
    );
  }

  /** The callback Payments would have sent, sent now, signed: a late delivery of it. */
  async function sendCallbackLate(orderId: string) {
    const { payments } = sys.peers();
    const payment = payments.recorded({ order_id: orderId }).payments[0]!;
    const status = await fetch(`${payments.url}/api/payments/${payment.id}`);
    const body = JSON.stringify(await status.json());
    return sys.request(
      'POST',
      '/api/v1/orders/payment-callback',
      body,
      signedWebhookHeaders(secret, body),
    );
  }

  /** Every Redis key of the suite's BullMQ prefix that names the job: none once it never was one. */
  async function redisKeysOfJob(jobId: string): Promise<string[]> {
    const client = new Redis(sys.redis.url);
    try {
      return await client.keys(`${sys.redis.prefix}:*${jobId}*`);
    } finally {
      client.disconnect();
    }
  }

  let healed: string;

  it('when Payments drops the callback, then the payment check asks Payments and the order becomes paid within the confirm delay plus one backoff', async () => {
    const { payments } = sys.peers();
    const checksBefore = payments.recorded().status_checks;
    const started = Date.now();
    healed = await create();

    const order = await sys.until(healed, ['paid', 'shipped'], CONFIRM_MS * 2 + 5000);

    expect(Date.now() - started).to.be.at.least(CONFIRM_MS);
    expect(order.status).to.be.oneOf(['paid', 'shipped']);
    const recorded = payments.recorded({ order_id: healed });
    expect(recorded.callbacks.map((c) => c.delivery)).to.deep.equal(['dropped']);
    expect(payments.recorded().status_checks).to.be.greaterThan(checksBefore);
    // Taken in under the callback's own message key.
    const key = `${healed}:${recorded.payments[0]!.id}:succeeded`;
    expect(
      await countRows(
        sys.db.pool,
        `select count(*) as n from inbox where order_id = $1 and message_key = $2`,
        [healed, key],
      ),
    ).to.equal(1);
  });

  it('when the dropped callback arrives after the check took the answer in, then it is a duplicate: no second transition and no second shipping request', async () => {
    await sys.until(healed, ['shipped'], 20000);

    const late = await sendCallbackLate(healed);

    expect(late.status).to.equal(200);
    expect(late.body.meta.duplicate).to.equal(true);
    // Time for anything a second application would write.
    await new Promise((r) => setTimeout(r, 500));
    const order = await get(healed);
    expect(order.history.filter((h) => h.status === 'paid')).to.have.length(1);
    expect(
      await countRows(
        sys.db.pool,
        `select count(*) as n from outbox where order_id = $1 and queue = 'shipping'`,
        [healed],
      ),
    ).to.equal(1);
    expect(sys.peers().shipping.recorded({ order_id: healed }).shipments).to.have.length(1);
  });

  it('when the callback comes before the check is due, then the transition completes the check row, which never becomes a BullMQ job', async () => {
    const { payments } = sys.peers();
    const id = await create();
    await untilAccepted(id);
    await payments.until(
      () => payments.recorded({ order_id: id }).callbacks[0]?.delivery === 'dropped',
    );

    // Delivered now, well before the check falls due (1 s after acceptance).
    const callback = await sendCallbackLate(id);
    expect(callback.status).to.equal(200);
    await sys.until(id, ['paid', 'shipped'], 5000);
    const [check] = await sys.db.pool
      .query<{ job_id: string; due_in_ms: number }>(
        `select job_id, extract(epoch from run_after - now()) * 1000 as due_in_ms
       from outbox where order_id = $1 and queue = 'payment-checks'`,
        [id],
      )
      .then((r) => r.rows);
    expect(Number(check!.due_in_ms)).to.be.above(0);

    // A second past its due time: the relay would have claimed it by then.
    await new Promise((r) => setTimeout(r, Number(check!.due_in_ms) + 1000));
    const rows = await checkRows(id);
    expect(rows.map((r) => [r.attempt, r.runs, r.completed])).to.deep.equal([[1, 0, true]]);
    expect(
      await countRows(
        sys.db.pool,
        `select count(*) as n from outbox
         where order_id = $1 and queue = 'payment-checks' and dispatched_at is not null`,
        [id],
      ),
    ).to.equal(0);
    expect(await redisKeysOfJob(`outbox-${check!.job_id}`)).to.deep.equal([]);
  });

  let expired: string;

  it('when Payments keeps the payment pending past PAYMENT_EXPIRE_AFTER_MS, then the order is cancelled, "payment expired", and the customer is notified', async () => {
    const { payments } = sys.peers();
    payments.pauseCallbacks();
    const checksBefore = payments.recorded().status_checks;
    expired = await create();

    const order = (await sys.until(expired, ['cancelled'], EXPIRE_MS + 10000)) as unknown as Order;

    expect(order.history.map((h) => [h.status, h.reason])).to.deep.equal([
      ['new', 'order created'],
      ['cancelled', 'payment expired'],
    ]);
    // Asked at 1, 2, 3, 4 and 5 s (the last check is the one that expires).
    expect(payments.recorded().status_checks - checksBefore).to.be.at.least(4);
    await waitFor(async () => sys.notificationEvents(expired).includes('order.cancelled'), {
      what: 'the expiry notification',
    });
    const notice = sys
      .peers()
      .notifications.recorded({ order_id: expired })
      .notifications.find((n) => n.event === 'order.cancelled');
    expect(notice?.message).to.match(/not confirmed in time/);
    // No check is left open for a cancelled order.
    expect(
      await countRows(
        sys.db.pool,
        `select count(*) as n from outbox
         where order_id = $1 and queue = 'payment-checks' and completed_at is null`,
        [expired],
      ),
    ).to.equal(0);
  });

  it('when the payment succeeds after the order expired, then it is refunded once, and a repeat of that callback changes nothing', async () => {
    const { payments } = sys.peers();
    // The payment turns final (its callback dropped as all are here) and is then delivered late.
    payments.resumeCallbacks();
    await payments.until(
      () => payments.recorded({ order_id: expired }).callbacks[0]?.delivery === 'dropped',
    );

    const late = await sendCallbackLate(expired);
    expect(late.status).to.equal(200);
    await waitFor(async () => (await get(expired)).refund_status === 'refunded', {
      timeoutMs: 20000,
      what: 'the refund',
    });
    const again = await sendCallbackLate(expired);

    expect(again.body.meta.duplicate).to.equal(true);
    await new Promise((r) => setTimeout(r, 500));
    const recorded = payments.recorded({ order_id: expired });
    expect(recorded.refunds).to.have.length(1);
    expect(recorded.refunds[0]!.duplicates).to.equal(0);
    const order = await get(expired);
    expect(order.status).to.equal('cancelled');
    expect(order.history.map((h) => h.reason)).to.include(
      'payment succeeded after the order was cancelled',
    );
  });

  it('when Payments is unavailable at a check, then the next check asks again and the order becomes paid, with no job given up', async () => {
    const { payments } = sys.peers();
    const faultedBefore = payments.faulted;
    const id = await create();
    // Status questions only (a GET has no body): the payment request itself gets through.
    payments.setFault({ status: 503, matches: (body) => body === undefined, forMs: 1800 });

    await sys.until(id, ['paid', 'shipped'], 10000);

    expect(payments.faulted - faultedBefore).to.be.at.least(1);
    const { rows } = await sys.db.pool.query<{ attempt: number; failed: boolean }>(
      `select (payload->>'attempt')::int as attempt, failed_at is not null as failed
       from outbox where order_id = $1 and queue = 'payment-checks' order by id`,
      [id],
    );
    expect(rows.length).to.be.at.least(2);
    expect(rows.some((r) => r.failed)).to.equal(false);
  });

  it('when Payments answered the request without the payment id, then no status is asked and the order expires at the expiry time', async () => {
    const { payments } = sys.peers();
    const id = await create();
    await untilAccepted(id);
    // As after a bare 409: the order has no id to ask about.
    await sys.db.pool.query(`update orders set requested_payment_id = null where id = $1`, [id]);
    const checksBefore = payments.recorded().status_checks;

    const order = (await sys.until(id, ['cancelled'], EXPIRE_MS + 10000)) as unknown as Order;

    expect(order.history.at(-1)?.reason).to.equal('payment expired');
    expect(payments.recorded().status_checks).to.equal(checksBefore);
    const checks = await checkRows(id);
    // The first, at the confirm delay, and the next at the expiry time, each run once.
    expect(checks.map((r) => [r.attempt, r.runs, r.errors])).to.deep.equal([
      [1, 1, 0],
      [2, 1, 0],
    ]);
  });

  it('when Payments answers 404 for the payment, then the check asks again on its backoff until the expiry time, and then expires the order', async () => {
    const { payments } = sys.peers();
    const id = await create();
    // Payments forgets the payment: the order is made to name one it never had, before the first
    // check (1 s after acceptance) asks.
    await untilAccepted(id);
    await sys.db.pool.query(`update orders set requested_payment_id = $2 where id = $1`, [
      id,
      `unknown-${randomUUID()}`,
    ]);
    const checksBefore = payments.recorded().status_checks;

    const order = (await sys.until(id, ['cancelled'], EXPIRE_MS + 10000)) as unknown as Order;

    expect(order.history.at(-1)?.reason).to.equal('payment expired');
    expect(payments.recorded().status_checks - checksBefore).to.be.at.least(4);
    const checks = await checkRows(id);
    // One row per check, numbered, each run once (a 404 is an answer, not a failure).
    expect(checks.map((r) => [r.attempt, r.runs, r.errors, r.completed])).to.deep.equal(
      checks.map((_, i) => [i + 1, 1, 0, true]),
    );
  });
});
