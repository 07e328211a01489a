import type { Db } from '../../db/client.js';
import { lockOrder } from '../../db/order-transitions.js';
import { markOutboxCompleted, type OutboxJobRef } from '../../db/outbox/rows.js';
import { findOrderToCheck, scheduleNextCheck } from '../../db/payment-checks.js';
import { AppError, PeerUnavailableError } from '../domain/errors.js';
import { orderStateOf, transition } from '../domain/order-state.js';
import { paymentCheck } from '../../db/outbox/events.js';
import {
  afterUnsettledCheck,
  untilExpiry,
  type PaymentCheckPolicy,
} from '../domain/payment-checks.js';
import type { PaymentsClient } from '../peers/payments.js';
import { applyTransition } from './apply-transition.js';
import { recordPaymentResult } from './record-payment-result.js';

/**
 * One payment check, the reconciliation of payments: an order still `new` a while after
 * Payments accepted its request is asked about (`GET …/{payment_id}`). A final answer is taken in
 * exactly as the callback would be (same inbox, same message key), so a callback that comes later
 * is a duplicate. No final answer (pending, unknown to Payments, no id to ask with, Payments
 * unavailable, an answer that breaks the contract): the next check is written on the capped
 * backoff; at the expiry time the order is cancelled, "payment expired" (a success that comes
 * later is refunded by the late-success rule). Unavailability is not retried within the job: the
 * next check is the retry, so no job's retry window can end before the expiry time does and
 * leave the order `new`.
 */
export interface CheckPaymentInput {
  orderId: string;
  /** Which check this is, from 1. */
  attempt: number;
  /** The check's own outbox row: completed by the same statement as what the check decided. */
  job: OutboxJobRef;
}

export interface CheckPaymentDeps {
  db: Db;
  payments: Pick<PaymentsClient, 'getPayment'>;
  policy: PaymentCheckPolicy;
}

/** Why a check found no final answer. */
export type NoAnswer =
  | { why: 'pending' }
  | { why: 'unknown'; detail: string }
  | { why: 'no-payment-id' }
  /** Payments refused the question, broke its contract, or answered for another order or key. */
  | { why: 'unusable'; detail: string }
  /** Down, slow, 5xx, 429: asked again at the next check. */
  | { why: 'unavailable'; detail: string };

export type CheckPaymentOutcome =
  | { kind: 'missing' }
  /** The order left `new` (its callback came, or it was cancelled): nothing asked. */
  | { kind: 'settled'; status: string }
  /** A final answer taken into the inbox; `duplicate` when its callback had come already. */
  | { kind: 'answered'; status: 'succeeded' | 'failed'; inbox: 'recorded' | 'duplicate' }
  | { kind: 'rechecking'; noAnswer: NoAnswer; attempt: number; delayMs: number }
  | { kind: 'expired'; noAnswer: NoAnswer }
  /** Expiry refused by the state machine (the order changed meanwhile). */
  | { kind: 'expiry-refused'; noAnswer: NoAnswer; reason: string };

export async function checkPayment(
  deps: CheckPaymentDeps,
  input: CheckPaymentInput,
): Promise<CheckPaymentOutcome> {
  const { db, policy } = deps;
  const order = await findOrderToCheck(db, input.orderId);
  if (!order || order.status !== 'new') {
    await markOutboxCompleted(db, input.job);
    return order ? { kind: 'settled', status: order.status } : { kind: 'missing' };
  }
  let noAnswer: NoAnswer;
  if (order.requestedPaymentId === null) {
    noAnswer = { why: 'no-payment-id' };
  } else {
    const asked = await ask(deps, order.requestedPaymentId);
    if ('answered' in asked) {
      await markOutboxCompleted(db, input.job);
      return { kind: 'answered', ...asked.answered };
    }
    noAnswer = asked.noAnswer;
  }

  const next =
    noAnswer.why === 'no-payment-id'
      ? untilExpiry(policy, order.sinceAcceptedMs)
      : afterUnsettledCheck(policy, input.attempt, order.sinceAcceptedMs);
  if (!next.expire) {
    const attempt = input.attempt + 1;
    await scheduleNextCheck(db, input.job, paymentCheck(input.orderId, attempt, next.delayMs));
    return { kind: 'rechecking', noAnswer, attempt, delayMs: next.delayMs };
  }
  return expire(db, input, noAnswer);
}

type Asked =
  | { answered: { status: 'succeeded' | 'failed'; inbox: 'recorded' | 'duplicate' } }
  | { noAnswer: NoAnswer };

async function ask(deps: CheckPaymentDeps, paymentId: string): Promise<Asked> {
  let answer;
  try {
    answer = await deps.payments.getPayment(paymentId);
  } catch (err) {
    if (err instanceof PeerUnavailableError) {
      return { noAnswer: { why: 'unavailable', detail: err.message } };
    }
    // Refused (4xx) or malformed: asking again later may still work; expiry ends it otherwise.
    if (err instanceof AppError) return { noAnswer: { why: 'unusable', detail: err.message } };
    throw err;
  }
  if (answer.kind === 'unknown') {
    return { noAnswer: { why: 'unknown', detail: `Payments does not know payment ${paymentId}` } };
  }
  const { payment } = answer;
  if (payment.status === 'pending') return { noAnswer: { why: 'pending' } };
  try {
    // The callback's own path: the same checks against the order, the same inbox message key.
    const recorded = await recordPaymentResult(deps.db, payment);
    if (recorded.kind === 'pending') return { noAnswer: { why: 'pending' } };
    return { answered: { status: payment.status, inbox: recorded.kind } };
  } catch (err) {
    // Another order's payment, another amount or key: what a callback would be refused for.
    if (err instanceof AppError && !err.retriable) {
      return { noAnswer: { why: 'unusable', detail: err.message } };
    }
    throw err;
  }
}

/** Cancels the order, "payment expired", and completes the check's row, in one transaction. */
async function expire(
  db: Db,
  input: CheckPaymentInput,
  noAnswer: NoAnswer,
): Promise<CheckPaymentOutcome> {
  return db.transaction(async (tx) => {
    const order = await lockOrder(tx, input.orderId);
    if (!order) {
      await markOutboxCompleted(tx, input.job);
      return { kind: 'missing' } as const;
    }
    // First, so this check's row counts its run; the transition then completes any other open.
    await markOutboxCompleted(tx, input.job);
    const decision = transition(orderStateOf(order), 'payment.expired');
    if (decision.ok) await applyTransition(tx, order, decision);
    return decision.ok
      ? ({ kind: 'expired', noAnswer } as const)
      : ({ kind: 'expiry-refused', noAnswer, reason: decision.reason } as const);
  });
}
