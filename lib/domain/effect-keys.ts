import { v5 as uuidv5 } from 'uuid';

/**
 * The idempotency key of every effect this service asks of a peer, derived from the order and the
 * step (UUIDv5), never drawn at random: when a restored database, or any replay, makes the service
 * write an effect again, the peer is sent the key it already has and recognises the request.
 *
 * Each step happens at most once in an order's life (the state machine's states only move
 * forward, and each follow-up belongs to one move: test/unit/effect-keys.test.ts walks every
 * path), so the order id and the step name it uniquely.
 */

/**
 * The UUIDv5 namespace of effect keys: fixed forever. Changing it changes the key of every effect
 * re-created from then on, and the peers would take those as new requests.
 */
export const EFFECT_KEY_NAMESPACE = '4e74976c-7f09-4ca2-bc3c-15cb01e6e4e5';

/**
 * payment: the charge (Payments); refund: giving it back (Payments); shipping: the request to ship
 * (Shipping); cancellation: asking Shipping to stop the order; notify:<event>: telling the
 * customer of that event (Notifications); payment-check:<n>: the n-th time Payments is asked what
 * became of the payment (the check's outbox row, recognised when written again).
 */
export type EffectStep =
  | 'payment'
  | 'refund'
  | 'shipping'
  | 'cancellation'
  | `notify:${string}`
  | `payment-check:${number}`;

/** The key of `step` for order `orderId`: the same inputs give the same key, always. */
export function effectKey(orderId: string, step: EffectStep): string {
  // UUIDs compare without regard to case; Postgres hands them back in lower case.
  return uuidv5(`${orderId.toLowerCase()}:${step}`, EFFECT_KEY_NAMESPACE);
}
