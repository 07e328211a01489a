/**
 * Orders sent the way a careful client sends them: at a steady pace, each retried with the same
 * body and idempotency key after a 5xx, a refused connection or a timeout, until the API answers
 * 201 (accepted), 200 (a replay: an earlier attempt was accepted but its answer was lost, web
 * killed after the commit) or a 4xx (refused). So such an order is still one order. Every attempt's answer and latency is kept, for scenarios that
 * check how the API behaves while something is down.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CreateOrderBody } from '../../support/factories.js';
import { orderBody, STICKER, KEYBOARD } from '../../support/factories.js';

/** The path an order is expected to take, decided by what was ordered (see `plannedOrder`). */
export type Expectation = 'shipped' | 'payment-failed' | 'shipping-failed';

export interface PlannedOrder {
  body: CreateOrderBody;
  expect: Expectation;
}

export interface AcceptedOrder extends PlannedOrder {
  id: string;
  /** When the 201 (or, for an order whose first answer was lost, the replay's 200) came. */
  acceptedAt: number;
  /** Accepted by an attempt whose answer was lost: the API answered a later one as a replay. */
  replayed: boolean;
}

export interface Attempt {
  startedAt: number;
  ms: number;
  /** HTTP status, or `error` (refused, reset) or `timeout` (no answer within the client's bound). */
  outcome: number | 'error' | 'timeout';
}

/**
 * The mix every scenario sends, by position: 80 % ship; 10 % are charged an amount whose cents
 * are 13, which the development Payments fails (→ cancelled); 10 % are for a quantity of 13,
 * which the development Shipping refuses (→ paid, then cancelled).
 */
export function plannedOrder(i: number): PlannedOrder {
  if (i % 10 === 3) {
    // 87 × 19.99 = 1739.13
    return { body: orderBody({ item_id: KEYBOARD.id, quantity: 87 }), expect: 'payment-failed' };
  }
  if (i % 10 === 7) {
    return { body: orderBody({ item_id: STICKER.id, quantity: 13 }), expect: 'shipping-failed' };
  }
  return { body: orderBody({ item_id: STICKER.id, quantity: 1 + (i % 3) }), expect: 'shipped' };
}

export interface LoadOptions {
  /** The API's base URL. */
  url: string;
  count: number;
  /** Orders started per second. */
  perSecond: number;
  /** Orders in flight at most (each with its retries). @defaultValue 8 */
  concurrency?: number;
  /** @defaultValue plannedOrder */
  plan?: (i: number) => PlannedOrder;
  /** Bound on one attempt: past it the attempt counts as a hang and is retried. @defaultValue 10000 */
  attemptTimeoutMs?: number;
  /** How long one order is retried before it is given up (and reported). @defaultValue 180000 */
  giveUpAfterMs?: number;
}

export interface LoadRun {
  /** Accepted so far (and all of them once `done` resolved). */
  readonly accepted: AcceptedOrder[];
  /** Orders answered with a 4xx: refused, so nothing of them must exist. */
  readonly refused: Array<{ order: PlannedOrder; status: number; body: string }>;
  /** Orders still unanswered when their retries ran out, with how their attempts ended. */
  readonly unanswered: Array<PlannedOrder & { outcomes: Record<string, number> }>;
  readonly attempts: Attempt[];
  /** Resolves when every order has been answered or given up. */
  done: Promise<void>;
}

const RETRY_PAUSE_MS = 250;

export function sendOrders(options: LoadOptions): LoadRun {
  const {
    url,
    count,
    perSecond,
    concurrency = 8,
    plan = plannedOrder,
    attemptTimeoutMs = 10_000,
    giveUpAfterMs = 180_000,
  } = options;
  const run: LoadRun = {
    accepted: [],
    refused: [],
    unanswered: [],
    attempts: [],
    done: Promise.resolve(),
  };

  async function attempt(order: PlannedOrder): Promise<{ status: number; text: string } | null> {
    const startedAt = Date.now();
    const record = (outcome: Attempt['outcome']) =>
      run.attempts.push({ startedAt, ms: Date.now() - startedAt, outcome });
    try {
      const res = await fetch(`${url}/api/v1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(order.body),
        signal: AbortSignal.timeout(attemptTimeoutMs),
      });
      const text = await res.text();
      record(res.status);
      return { status: res.status, text };
    } catch (err) {
      record((err as Error).name === 'TimeoutError' ? 'timeout' : 'error');
      return null;
    }
  }

  async function send(order: PlannedOrder): Promise<void> {
    const deadline = Date.now() + giveUpAfterMs;
    const outcomes: Record<string, number> = {};
    for (;;) {
      const answer = await attempt(order);
      const outcome = String(run.attempts.at(-1)?.outcome);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      // 201: created now; 200: an earlier attempt created it and its answer was lost (a replay).
      if (answer?.status === 201 || answer?.status === 200) {
        const { data } = JSON.parse(answer.text) as { data: { id: string } };
        run.accepted.push({
          ...order,
          id: data.id,
          acceptedAt: Date.now(),
          replayed: answer.status === 200,
        });
        return;
      }
      if (answer && answer.status >= 400 && answer.status < 500) {
        run.refused.push({ order, status: answer.status, body: answer.text.slice(0, 300) });
        return;
      }
      if (Date.now() > deadline) {
        run.unanswered.push({ ...order, outcomes });
        return;
      }
      await sleep(RETRY_PAUSE_MS);
    }
  }

  run.done = (async () => {
    const started = Date.now();
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < count; i++) {
      // The pace is the load's arrival rate, not a wait for something to happen.
      const due = started + (i * 1000) / perSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      const p: Promise<void> = send(plan(i)).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  })();
  return run;
}

/** What became of the orders the client could not get accepted, as a scenario reports it. */
export function unaccepted(run: LoadRun): { refused: number; unanswered: number } {
  return { refused: run.refused.length, unanswered: run.unanswered.length };
}
