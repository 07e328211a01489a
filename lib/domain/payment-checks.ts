/**
 * When to ask Payments what became of a payment whose callback has not come (the `payment-checks`
 * queue, lib/orders/check-payment.ts). Pure: the times are counted from when Payments accepted
 * the request, which the caller reads off the database's clock.
 *
 * The first check comes `confirmAfterMs` after acceptance; while Payments has no final answer the
 * next comes after a delay that starts at `confirmAfterMs` and doubles, each at most
 * `maxIntervalMs`; the last comes exactly `expireAfterMs` after acceptance, and a payment still
 * not final then expires the order. Each order's checks are anchored on its own acceptance time,
 * so a burst of orders spreads its checks as it spread its requests.
 */
export interface PaymentCheckPolicy {
  /** From acceptance to the first check (PAYMENT_CONFIRM_AFTER_MS). */
  confirmAfterMs: number;
  /** From acceptance to expiry (PAYMENT_EXPIRE_AFTER_MS). */
  expireAfterMs: number;
  /** Cap on the wait between two checks (PAYMENT_CHECK_MAX_INTERVAL_MS). */
  maxIntervalMs: number;
}

/** 2^40 × any positive delay exceeds any cap; it also keeps the power finite. */
const MAX_DOUBLINGS = 40;

/** The wait after acceptance before check number 1. */
export function firstCheckDelay(policy: PaymentCheckPolicy): number {
  return Math.min(policy.confirmAfterMs, policy.expireAfterMs);
}

/**
 * The wait after check number `attempt` (1 for the first) before the next one, when that check
 * found no final answer: confirmAfterMs × 2^(attempt − 1), at most maxIntervalMs.
 */
export function checkInterval(policy: PaymentCheckPolicy, attempt: number): number {
  const doublings = Math.min(Math.max(attempt - 1, 0), MAX_DOUBLINGS);
  return Math.min(policy.maxIntervalMs, policy.confirmAfterMs * 2 ** doublings);
}

export type AfterUnsettledCheck = { expire: true } | { expire: false; delayMs: number };

/**
 * What follows check number `attempt`, made `sinceAcceptedMs` after acceptance, that found no
 * final answer: expire the order when the expiry time has come, else check again after the
 * interval, never later than the expiry time (that last check is the one that expires).
 */
export function afterUnsettledCheck(
  policy: PaymentCheckPolicy,
  attempt: number,
  sinceAcceptedMs: number,
): AfterUnsettledCheck {
  const left = msLeft(policy, sinceAcceptedMs);
  if (left <= 0) return { expire: true };
  return { expire: false, delayMs: Math.min(checkInterval(policy, attempt), left) };
}

/** Whole ms until the expiry time (a clock reading has fractions; a delay is whole ms). */
function msLeft(policy: PaymentCheckPolicy, sinceAcceptedMs: number): number {
  return Math.ceil(policy.expireAfterMs - sinceAcceptedMs);
}

/** True once a check made `sinceAcceptedMs` after acceptance is past the expiry time. */
export function paymentExpired(policy: PaymentCheckPolicy, sinceAcceptedMs: number): boolean {
  return sinceAcceptedMs >= policy.expireAfterMs;
}

/**
 * What follows a check that cannot ask Payments at all (it has no payment id): nothing can
 * change until the expiry time, so the next check is then.
 */
export function untilExpiry(
  policy: PaymentCheckPolicy,
  sinceAcceptedMs: number,
): AfterUnsettledCheck {
  const left = msLeft(policy, sinceAcceptedMs);
  return left <= 0 ? { expire: true } : { expire: false, delayMs: left };
}
