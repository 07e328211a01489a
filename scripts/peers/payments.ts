import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import Joi from 'joi';
import { createLogger, type Logger } from '../../lib/platform/logger.js';
import { isMain } from '../../lib/platform/main.js';
import { moneyEquals, parseMoney } from '../../lib/domain/money.js';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';
import {
  changeWaiters,
  envChoice,
  envInteger,
  keepAliveAgents,
  PeerConfigError,
  postJson,
  runUntilSignal,
  recordingJsonPeer,
  type RecordingJsonPeer,
  startJsonPeer,
  type PeerFault,
  sendJson,
  validBody,
  timerSet,
} from './http-server.js';

/**
 * Development Payments: a real HTTP server playing the Payments service's contract.
 * `POST {any path}` `{order_id, amount, callback_url, idempotency_key, user_id?}` → 201 with the
 * pending payment; the same idempotency key again → 201 with the same payment (header
 * `idempotent-replayed: true`) and its outcome called back again (a new message, same outcome): the
 * sender may have lost the first (its database restored), and the receiver dedupes a repeat.
 * Reusing a key for another order or amount → 422. A moment later it POSTs the outcome to `callback_url`, signed the Standard Webhooks way
 * when a secret is set, and retries that call with backoff while the receiver is down or answers
 * 5xx/408/429. `GET /payments` (or `/_recorded`, `?order_id=` to filter) shows what it recorded.
 *
 * Refunds (this service's extension of the contract): `POST {any path ending in /refunds}`
 * `{payment_id, order_id, amount, reason, idempotency_key, callback_url}` → 201 with the pending
 * refund; the same key again → 201 with the same refund and its outcome called back again (each
 * refund counts its repeats); an unknown payment → 404; another order, more than was paid, or a second refund
 * of one payment under another key → 422. A moment later it calls back as for a payment, with
 * `status: refunded` (or `refund_failed` when the refund rule says so), `id` the payment id and
 * `idempotency_key` the refund's.
 *
 * Payment status (this service's extension): `GET {any path}/{payment_id}` → 200 with the
 * callback's body, `status: pending` until the payment's callback came due, then its outcome; an
 * unknown id → 404. Told to (`dropCallback`, `PAYMENTS_CALLBACK_DROP_RATE`), it drops a payment's
 * callback when it comes due (as a provider that loses webhooks): the payment is final all the
 * same, and only the status GET tells it. Refund callbacks are never dropped.
 */
export type PaymentOutcome = 'succeeded' | 'failed';
export type RefundOutcome = 'refunded' | 'refund_failed';

export interface Payment {
  id: string;
  order_id: string;
  amount: string;
  status: 'pending';
  idempotency_key: string;
  created_at: string;
}

/** A payment as recorded: how many repeats of its idempotency key came after the first. */
export interface RecordedPayment extends Payment {
  duplicates: number;
}

/** Decides a payment's result. */
export type PaymentOutcomeRule = (payment: Payment) => PaymentOutcome;

/** The default rule: an amount whose cents are 13 ("0.13", "26.13") fails; all else succeeds. */
export const failWhenCentsAre13: PaymentOutcomeRule = (p) =>
  parseMoney(p.amount) % 100n === 13n ? 'failed' : 'succeeded';

export const PAYMENT_OUTCOME_RULES = {
  rule: failWhenCentsAre13,
  succeed: () => 'succeeded',
  fail: () => 'failed',
} as const satisfies Record<string, PaymentOutcomeRule>;

export interface Refund {
  id: string;
  payment_id: string;
  order_id: string;
  amount: string;
  reason: string | null;
  status: 'pending';
  idempotency_key: string;
  created_at: string;
  /** Requests that repeated this refund's idempotency key (answered with it, not refunded again). */
  duplicates: number;
}

/** Decides a refund's result. */
export type RefundOutcomeRule = (refund: Refund) => RefundOutcome;

export const REFUND_OUTCOME_RULES = {
  refund: () => 'refunded',
  fail: () => 'refund_failed',
} as const satisfies Record<string, RefundOutcomeRule>;

export interface CallbackRetryOptions {
  /** Tries in all, the first included. @defaultValue 10 */
  maxAttempts?: number;
  /** Wait after the first failed try; doubles after each. @defaultValue 200 */
  baseDelayMs?: number;
  /** Cap on one wait (10 tries then span about 26 s). @defaultValue 5000 */
  maxDelayMs?: number;
  /** Bound on one try. @defaultValue 5000 */
  timeoutMs?: number;
}

export interface PaymentsPeerOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** Standard Webhooks secret (`whsec_<base64>`); callbacks go unsigned when unset. */
  webhookSecret?: string;
  /** Wait between the 201 and the callback; 0 for benchmarks. @defaultValue 10 */
  callbackDelayMs?: number;
  /** @defaultValue {@link failWhenCentsAre13} */
  outcome?: PaymentOutcomeRule;
  /** @defaultValue every refund succeeds */
  refundOutcome?: RefundOutcomeRule;
  callbackRetry?: CallbackRetryOptions;
  /**
   * Whether to drop this payment's callback (never sent; the payment is final all the same).
   * @defaultValue none dropped
   */
  dropCallback?: (payment: Payment) => boolean;
  /** @defaultValue a bunyan logger named dev-payments */
  logger?: Logger;
}

export interface CallbackAttempt {
  at: string;
  /** The receiver's answer; null when none came. */
  http_status: number | null;
  error: string | null;
}

/** One callback message (one per outcome sent; a repeated key sends another) and every try to deliver it. */
export interface CallbackRecord {
  webhook_id: string;
  url: string;
  payment_id: string;
  /** Set on a refund's callback. */
  refund_id: string | null;
  order_id: string;
  idempotency_key: string;
  status: PaymentOutcome | RefundOutcome;
  /**
   * pending: not yet answered 2xx; rejected: a 4xx, not retried; gave_up: out of tries; dropped:
   * never sent (`dropCallback`).
   */
  delivery: 'pending' | 'delivered' | 'rejected' | 'gave_up' | 'dropped';
  /** The last answer's status; null before any. */
  http_status: number | null;
  attempts: CallbackAttempt[];
}

export interface PaymentsRecorded {
  payments: RecordedPayment[];
  /** One per refund idempotency key: a repeat is counted on the refund, not listed again. */
  refunds: Refund[];
  callbacks: CallbackRecord[];
  /** Requests repeating a known idempotency key (answered with the stored payment). */
  duplicates: number;
  /** Refund requests repeating a known refund key (answered with the stored refund). */
  refund_duplicates: number;
  /** Requests reusing a key for another order or amount, or refunding what cannot be (422). */
  conflicts: number;
  /** Requests with a bad body (400). */
  invalid: number;
  /** Callback tries that got no answer or a non-2xx one, and handler failures. */
  errors: number;
  /** Status GETs answered (200 or 404). */
  status_checks: number;
}

/** Answer POSTs with `status` instead of taking the payment, or after `delayMs`. */
export type PaymentFault = PeerFault;

export interface PaymentsPeer extends RecordingJsonPeer<PaymentsRecorded> {
  /** Holds every callback due from now on until resumeCallbacks() (tests: a late result). */
  pauseCallbacks(): void;
  /** Sends the held callbacks and stops holding. */
  resumeCallbacks(): void;
}

const paymentRequestSchema = Joi.object({
  order_id: Joi.string().min(1).max(200).required(),
  amount: Joi.string()
    .required()
    .custom((value: string) => {
      parseMoney(value);
      return value;
    }, 'money amount'),
  callback_url: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .required(),
  idempotency_key: Joi.string().min(1).max(200).required(),
  user_id: Joi.string().max(200).allow('', null),
})
  .unknown(true)
  .required();

const refundRequestSchema = Joi.object({
  payment_id: Joi.string().min(1).max(200).required(),
  order_id: Joi.string().min(1).max(200).required(),
  amount: paymentRequestSchema.extract('amount'),
  reason: Joi.string().max(1000).allow('', null),
  idempotency_key: Joi.string().min(1).max(200).required(),
  callback_url: paymentRequestSchema.extract('callback_url'),
})
  .unknown(true)
  .required();

interface RefundRequest {
  payment_id: string;
  order_id: string;
  amount: string;
  reason?: string | null;
  idempotency_key: string;
  callback_url: string;
}

interface PaymentRequest {
  order_id: string;
  amount: string;
  callback_url: string;
  idempotency_key: string;
  user_id?: string | null;
}

const RETRIABLE_STATUS = (status: number) => status >= 500 || status === 408 || status === 429;

export async function startPaymentsPeer(options: PaymentsPeerOptions = {}): Promise<PaymentsPeer> {
  const {
    port = 0,
    webhookSecret,
    callbackDelayMs = 10,
    outcome = failWhenCentsAre13,
    refundOutcome = REFUND_OUTCOME_RULES.refund,
    logger = createLogger({ name: 'dev-payments' }),
  } = options;
  const retry = {
    maxAttempts: options.callbackRetry?.maxAttempts ?? 10,
    baseDelayMs: options.callbackRetry?.baseDelayMs ?? 200,
    maxDelayMs: options.callbackRetry?.maxDelayMs ?? 5000,
    timeoutMs: options.callbackRetry?.timeoutMs ?? 5000,
  };
  if (!Number.isInteger(callbackDelayMs) || callbackDelayMs < 0) {
    throw new Error(`callbackDelayMs must be a whole number ≥ 0, got ${callbackDelayMs}`);
  }
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) {
    throw new Error(
      `callbackRetry.maxAttempts must be a whole number ≥ 1, got ${retry.maxAttempts}`,
    );
  }
  // A malformed secret should fail the start, not every callback later.
  if (webhookSecret) signedWebhookHeaders(webhookSecret, '');
  const agents = keepAliveAgents();
  const timers = timerSet();
  const waiters = changeWaiters();

  const byKey = new Map<string, Payment>();
  const byId = new Map<string, Payment>();
  const refundsByKey = new Map<string, Refund>();
  const duplicatesByKey = new Map<string, number>();
  // What each payment and refund came to: a repeated key is called back with it again.
  const outcomes = new Map<Payment | Refund, PaymentOutcome | RefundOutcome>();
  const callbacks: CallbackRecord[] = [];
  type OrderEntry = { payments: Payment[]; refunds: Refund[]; callbacks: CallbackRecord[] };
  const byOrder = new Map<string, OrderEntry>();
  const counts = {
    duplicates: 0,
    refund_duplicates: 0,
    conflicts: 0,
    invalid: 0,
    errors: 0,
    status_checks: 0,
  };
  /** Each payment's outcome once its callback came due (before: pending), and its user. */
  const statusById = new Map<
    string,
    { outcome?: PaymentOutcome; user_id: string | null | undefined }
  >();
  let stopped = false;
  // While paused, callbacks that come due wait here (in order) for resumeCallbacks().
  let held: (() => void)[] | undefined;

  const forOrder = (orderId: string) => {
    let entry = byOrder.get(orderId);
    if (!entry) byOrder.set(orderId, (entry = { payments: [], refunds: [], callbacks: [] }));
    return entry;
  };

  async function deliver(callback: CallbackRecord, body: string): Promise<void> {
    const attempt: CallbackAttempt = {
      at: new Date().toISOString(),
      http_status: null,
      error: null,
    };
    callback.attempts.push(attempt);
    // Signed per try with the current time (same webhook-id): receivers refuse old timestamps.
    const headers = webhookSecret
      ? signedWebhookHeaders(webhookSecret, body, { id: callback.webhook_id })
      : {};
    try {
      const { status } = await postJson(callback.url, body, {
        agents,
        headers,
        timeoutMs: retry.timeoutMs,
      });
      attempt.http_status = callback.http_status = status;
      if (status >= 200 && status < 300) callback.delivery = 'delivered';
      else if (!RETRIABLE_STATUS(status)) callback.delivery = 'rejected';
    } catch (err) {
      attempt.error = (err as Error).message;
    }
    // Stopping destroys the agent under a try in flight: that failure is ours, not the receiver's.
    if (stopped) return;
    if (callback.delivery !== 'delivered') {
      counts.errors++;
      logger.warn(
        {
          order_id: callback.order_id,
          webhook_id: callback.webhook_id,
          attempt: callback.attempts.length,
          http_status: attempt.http_status,
          error: attempt.error,
        },
        'payment callback not accepted',
      );
    }
    if (callback.delivery === 'pending') {
      if (callback.attempts.length >= retry.maxAttempts) {
        callback.delivery = 'gave_up';
        logger.error(
          {
            order_id: callback.order_id,
            webhook_id: callback.webhook_id,
            tries: retry.maxAttempts,
          },
          'payment callback given up',
        );
      } else {
        const wait = Math.min(
          retry.baseDelayMs * 2 ** (callback.attempts.length - 1),
          retry.maxDelayMs,
        );
        timers.after(wait, () => deliverLogged(callback, body));
      }
    }
    waiters.changed();
  }

  /** From a timer, where nobody awaits: a failure is logged and counted. */
  function deliverLogged(callback: CallbackRecord, body: string): void {
    if (held) {
      held.push(() => deliverLogged(callback, body));
      return;
    }
    deliver(callback, body).catch((err: unknown) => {
      counts.errors++;
      logger.error({ err, order_id: callback.order_id }, 'payment callback failed unexpectedly');
    });
  }

  /** The webhook body: a payment's result, or a refund's (then `id` is still the payment's). */
  function scheduleCallback(
    url: string,
    message: {
      payment: Payment;
      refund?: Refund;
      user_id?: string | null;
      status: PaymentOutcome | RefundOutcome;
    },
  ) {
    const { payment, refund, status } = message;
    const idempotencyKey = refund?.idempotency_key ?? payment.idempotency_key;
    const callback: CallbackRecord = {
      webhook_id: `msg_${randomUUID()}`,
      url,
      payment_id: payment.id,
      refund_id: refund?.id ?? null,
      order_id: payment.order_id,
      idempotency_key: idempotencyKey,
      status,
      delivery: 'pending',
      http_status: null,
      attempts: [],
    };
    callbacks.push(callback);
    forOrder(payment.order_id).callbacks.push(callback);
    const body = JSON.stringify({
      id: payment.id,
      user_id: message.user_id ?? null,
      order_id: payment.order_id,
      amount: refund?.amount ?? payment.amount,
      status,
      idempotency_key: idempotencyKey,
      ...(refund && { refund_id: refund.id }),
      created_at: refund?.created_at ?? payment.created_at,
    });
    if (refund) {
      timers.after(callbackDelayMs, () => deliverLogged(callback, body));
      return;
    }
    // A repeated key calls back again: the status GET keeps telling the outcome meanwhile.
    if (!statusById.has(payment.id)) statusById.set(payment.id, { user_id: message.user_id });
    timers.after(callbackDelayMs, () => paymentDue(callback, body, status as PaymentOutcome));
  }

  /**
   * A payment's callback comes due: from now on the status GET tells its outcome; the callback is
   * sent, or dropped when `dropCallback` says so. While callbacks are held, it waits with them.
   */
  function paymentDue(callback: CallbackRecord, body: string, outcome: PaymentOutcome): void {
    if (held) {
      held.push(() => paymentDue(callback, body, outcome));
      return;
    }
    const entry = statusById.get(callback.payment_id);
    if (entry) entry.outcome = outcome;
    const payment = byId.get(callback.payment_id);
    if (payment && options.dropCallback?.(payment)) {
      callback.delivery = 'dropped';
      logger.info(
        { order_id: callback.order_id, payment_id: callback.payment_id },
        'payment callback dropped (as told)',
      );
      waiters.changed();
      return;
    }
    deliverLogged(callback, body);
  }

  /** `GET …/{payment_id}`: the payment as its callback would carry it; 404 when unknown. */
  function answerStatus(res: http.ServerResponse, path: string): void {
    const id = decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
    const payment = byId.get(id);
    const entry = statusById.get(id);
    counts.status_checks++;
    waiters.changed();
    if (!payment || !entry) return sendJson(res, 404, { detail: `no payment ${id}` });
    sendJson(res, 200, {
      id: payment.id,
      user_id: entry.user_id ?? null,
      order_id: payment.order_id,
      amount: payment.amount,
      status: entry.outcome ?? 'pending',
      idempotency_key: payment.idempotency_key,
      created_at: payment.created_at,
    });
  }

  function takePayment(res: http.ServerResponse, json: unknown): void {
    const request = validBody<PaymentRequest>(res, paymentRequestSchema, json, counts);
    if (!request) return;
    const known = byKey.get(request.idempotency_key);
    if (known) {
      if (known.order_id !== request.order_id || !moneyEquals(known.amount, request.amount)) {
        counts.conflicts++;
        return sendJson(res, 422, {
          detail: 'idempotency_key already used for another order or amount',
          payment: known,
        });
      }
      counts.duplicates++;
      duplicatesByKey.set(
        known.idempotency_key,
        (duplicatesByKey.get(known.idempotency_key) ?? 0) + 1,
      );
      scheduleCallback(request.callback_url, {
        payment: known,
        user_id: request.user_id,
        status: outcomes.get(known)!,
      });
      sendJson(res, 201, known, { 'idempotent-replayed': 'true' });
      return waiters.changed();
    }
    const payment: Payment = {
      id: randomUUID(),
      order_id: request.order_id,
      amount: request.amount,
      status: 'pending',
      idempotency_key: request.idempotency_key,
      created_at: new Date().toISOString(),
    };
    // Decided before anything is stored: a rule that throws leaves no payment without a callback.
    const result = outcome(payment);
    byKey.set(payment.idempotency_key, payment);
    outcomes.set(payment, result);
    byId.set(payment.id, payment);
    forOrder(payment.order_id).payments.push(payment);
    scheduleCallback(request.callback_url, { payment, user_id: request.user_id, status: result });
    sendJson(res, 201, payment);
    waiters.changed();
  }

  /** Why a refund cannot be made of `payment`, or undefined when it can. */
  function refundProblem(payment: Payment, request: RefundRequest): string | undefined {
    if (payment.order_id !== request.order_id) return 'payment_id belongs to another order';
    if (parseMoney(request.amount) > parseMoney(payment.amount)) {
      return `amount ${request.amount} exceeds the payment's ${payment.amount}`;
    }
    const earlier = [...refundsByKey.values()].find((r) => r.payment_id === payment.id);
    if (earlier) return `payment already refunded under idempotency key ${earlier.idempotency_key}`;
    return undefined;
  }

  function takeRefund(res: http.ServerResponse, json: unknown): void {
    const request = validBody<RefundRequest>(res, refundRequestSchema, json, counts);
    if (!request) return;
    const known = refundsByKey.get(request.idempotency_key);
    if (known) {
      if (known.payment_id !== request.payment_id || !moneyEquals(known.amount, request.amount)) {
        counts.conflicts++;
        return sendJson(res, 422, {
          detail: 'idempotency_key already used for another refund',
          refund: known,
        });
      }
      known.duplicates++;
      counts.refund_duplicates++;
      scheduleCallback(request.callback_url, {
        payment: byId.get(known.payment_id)!,
        refund: known,
        status: outcomes.get(known)!,
      });
      waiters.changed();
      return sendJson(res, 201, { ...known }, { 'idempotent-replayed': 'true' });
    }
    const payment = byId.get(request.payment_id);
    if (!payment) return sendJson(res, 404, { detail: `no payment ${request.payment_id}` });
    const problem = refundProblem(payment, request);
    if (problem) {
      counts.conflicts++;
      return sendJson(res, 422, { detail: problem });
    }
    const refund: Refund = {
      id: randomUUID(),
      payment_id: payment.id,
      order_id: payment.order_id,
      amount: request.amount,
      reason: request.reason ?? null,
      status: 'pending',
      idempotency_key: request.idempotency_key,
      created_at: new Date().toISOString(),
      duplicates: 0,
    };
    const result = refundOutcome(refund);
    refundsByKey.set(refund.idempotency_key, refund);
    outcomes.set(refund, result);
    forOrder(refund.order_id).refunds.push(refund);
    scheduleCallback(request.callback_url, { payment, refund, status: result });
    sendJson(res, 201, { ...refund });
    waiters.changed();
  }

  function recorded(filter: { order_id?: string } = {}): PaymentsRecorded {
    const source =
      filter.order_id === undefined
        ? { payments: [...byKey.values()], refunds: [...refundsByKey.values()], callbacks }
        : (byOrder.get(filter.order_id) ?? { payments: [], refunds: [], callbacks: [] });
    return {
      payments: source.payments.map((p) => ({
        ...p,
        duplicates: duplicatesByKey.get(p.idempotency_key) ?? 0,
      })),
      refunds: source.refunds.map((r) => ({ ...r })),
      callbacks: source.callbacks.map((c) => ({
        ...c,
        attempts: c.attempts.map((a) => ({ ...a })),
      })),
      ...counts,
    };
  }

  const peer = await startJsonPeer({
    name: 'payments',
    listPaths: ['/payments', '/_recorded'],
    port,
    logger,
    list: (orderId) => recorded({ order_id: orderId }),
    accept: (res, json, path) =>
      path.endsWith('/refunds') ? takeRefund(res, json) : takePayment(res, json),
    get: answerStatus,
    onError: () => counts.errors++,
  });
  return recordingJsonPeer(peer, waiters, recorded, {
    pauseCallbacks() {
      held ??= [];
    },
    resumeCallbacks() {
      const due = held ?? [];
      held = undefined;
      for (const send of due) send();
    },
    async stop() {
      stopped = true;
      timers.close();
      waiters.cancel('payments peer stopped');
      agents.destroy();
      await peer.server.stop();
    },
  });
}

/** PAYMENTS_REFUND_OUTCOME: refund (every refund succeeds) | fail (every one fails). */
export function refundOutcomeFromEnv(env: NodeJS.ProcessEnv): RefundOutcomeRule {
  return REFUND_OUTCOME_RULES[
    envChoice(env, 'PAYMENTS_REFUND_OUTCOME', ['refund', 'fail'] as const, 'refund')
  ];
}

/** The peer's options from the environment; the variables are listed at `main` below. */
export function paymentsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): PaymentsPeerOptions {
  return {
    port: envInteger(env, 'PAYMENTS_PORT', 8002, { max: 65535 }),
    webhookSecret: env.PAYMENTS_WEBHOOK_SECRET || undefined,
    callbackDelayMs: envInteger(env, 'PAYMENTS_CALLBACK_DELAY_MS', 10),
    outcome:
      PAYMENT_OUTCOME_RULES[
        envChoice(env, 'PAYMENTS_OUTCOME', ['rule', 'succeed', 'fail'] as const, 'rule')
      ],
    refundOutcome: refundOutcomeFromEnv(env),
    callbackRetry: {
      maxAttempts: envInteger(env, 'PAYMENTS_CALLBACK_MAX_ATTEMPTS', 10, { min: 1 }),
    },
    dropCallback: dropCallbackFromEnv(env),
  };
}

/**
 * PAYMENTS_CALLBACK_DROP_RATE: the share of payment callbacks dropped at random, from 0 (none,
 * the default) to 1 (all); e.g. 0.2.
 */
export function dropCallbackFromEnv(env: NodeJS.ProcessEnv): PaymentsPeerOptions['dropCallback'] {
  const text = env.PAYMENTS_CALLBACK_DROP_RATE?.trim();
  if (!text) return undefined;
  const rate = Number(text);
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new PeerConfigError(
      `PAYMENTS_CALLBACK_DROP_RATE must be a number from 0 to 1, got ${JSON.stringify(text)}`,
    );
  }
  return rate === 0 ? undefined : () => Math.random() < rate;
}

if (isMain(import.meta.url)) {
  // PAYMENTS_PORT (8002), PAYMENTS_WEBHOOK_SECRET, PAYMENTS_CALLBACK_DELAY_MS (10),
  // PAYMENTS_OUTCOME (rule: cents .13 fail | succeed | fail), PAYMENTS_REFUND_OUTCOME (refund |
  // fail), PAYMENTS_CALLBACK_MAX_ATTEMPTS (10), PAYMENTS_CALLBACK_DROP_RATE (0 to 1; 0).
  runUntilSignal(
    'development Payments',
    () => startPaymentsPeer(paymentsOptionsFromEnv()),
    (peer) => `development Payments on ${peer.url} (GET /payments lists what it recorded)`,
  );
}
