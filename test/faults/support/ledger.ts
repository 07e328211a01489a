/**
 * The ledger a scenario ends with: what the service's database and the peers say happened to
 * every order the API accepted, against what should have happened.
 *
 * - Final state: the order exists, has the status its path ends in, and its history is exactly
 *   that path (a transition applied twice would show as a repeated status).
 * - Effects, per order: one payment request; one notification per transition (order.created,
 *   then order.paid / order.shipped / order.cancelled / order.refunded as the path goes); one
 *   shipping request when it was paid; one refund request when it was paid and ended cancelled. A peer deduplicates by idempotency key, so a record there is one effect:
 *   none is an effect lost, two for the same order (and event) is an effect applied twice
 *   (different keys got through), and a repeat of a key the peer already had is a duplicate
 *   delivered (harmless, counted by the peer, reported here), even when the peer answers it
 *   with its outcome again (a payment's callback, a shipping answer): that is one effect.
 * - Webhook deliveries, per order, when the scenario's receiver is subscribed (webhook-ledger.ts):
 *   one per event the order's history implies, after deduplication by webhook-id, counted like
 *   the peers' effects (lost, applied twice under two ids, repeats as duplicates delivered); and
 *   beside those, none the history does not imply, every signature valid, and the events taken in
 *   the order of the history.
 * - The database is quiet: no outbox row open or failed, no inbox row unprocessed.
 */
import type pg from 'pg';
import type { Peers } from '../../../scripts/peers/index.js';
import { waitFor } from '../../../scripts/testkit/wait.js';
import type { AcceptedOrder, Expectation } from './load.js';
import { tallyWebhooks } from './webhook-ledger.js';
import type { WebhookReceiver } from './webhook-receiver.js';

const PATHS: Record<Expectation, string[]> = {
  shipped: ['new', 'paid', 'shipped'],
  'payment-failed': ['new', 'cancelled'],
  // The cancellation asks for the refund in the same row (refund requested); Payments' signed
  // callback then adds one more: cancelled, refunded.
  'shipping-failed': ['new', 'paid', 'cancelled', 'cancelled'],
};

/** The notification events each path sends, in order. */
const NOTIFICATIONS: Record<Expectation, string[]> = {
  shipped: ['order.created', 'order.paid', 'order.shipped'],
  'payment-failed': ['order.created', 'order.cancelled'],
  'shipping-failed': ['order.created', 'order.paid', 'order.cancelled', 'order.refunded'],
};

export interface Ledger {
  orders: number;
  finalStatesCorrect: number;
  /** Effects the accepted orders should have had at the peers (webhook deliveries included). */
  effects: number;
  /** Of them, webhook deliveries owed to the subscriber (0 when none is subscribed). */
  webhooks: number;
  effectsLost: number;
  duplicatesDelivered: number;
  duplicatesApplied: number;
  /** Effects an order should not have had at all (a shipment of an unpaid order, say). */
  unexpectedEffects: number;
  /**
   * Webhook deliveries taken of events an order's history does not imply, or of no order event.
   * Apart from unexpectedEffects because it can heal: after a database restore an order may
   * have to reach again the state whose event was already delivered.
   */
  webhooksForeign: number;
  /** Webhook requests whose signature did not verify. */
  webhookSignaturesInvalid: number;
  /** Orders whose webhook events were taken in another order than their history's. */
  webhooksOutOfOrder: number;
  openOutbox: number;
  failedOutbox: number;
  unprocessedInbox: number;
  /** The first few things that are wrong, each naming the order or row. */
  problems: string[];
}

export interface LedgerInput {
  pool: pg.Pool;
  peers: Pick<Peers, 'payments' | 'notifications' | 'shipping'>;
  /** The scenario's subscribed receiver; null when it subscribed none (nothing to count). */
  webhooks: Pick<WebhookReceiver, 'forOrder' | 'unattributed'> | null;
  orders: AcceptedOrder[];
}

const MAX_PROBLEMS = 20;

export async function readLedger({ pool, peers, webhooks, orders }: LedgerInput): Promise<Ledger> {
  const ledger: Ledger = {
    orders: orders.length,
    finalStatesCorrect: 0,
    effects: 0,
    webhooks: 0,
    effectsLost: 0,
    duplicatesDelivered: 0,
    duplicatesApplied: 0,
    unexpectedEffects: 0,
    webhooksForeign: 0,
    webhookSignaturesInvalid: 0,
    webhooksOutOfOrder: 0,
    openOutbox: 0,
    failedOutbox: 0,
    unprocessedInbox: 0,
    problems: [],
  };
  const problem = (text: string) => {
    if (ledger.problems.length < MAX_PROBLEMS) ledger.problems.push(text);
  };
  // What waiting cannot undo ends the wait early (settledLedger), while the effects still on
  // their way are lost for now: the lasting ones go first, so the list names why it ended.
  const lasting: string[] = [];
  const lastingProblem = (text: string) => {
    if (lasting.length < MAX_PROBLEMS) lasting.push(text);
  };

  const { rows } = await pool.query<{
    id: string;
    status: string;
    history: string[];
    refunds: Array<string | null>;
  }>(
    `select o.id, o.status,
            array(select h.status from order_status_history h where h.order_id = o.id order by h.id)
              as history,
            array(select h.refund_status from order_status_history h where h.order_id = o.id
                   order by h.id) as refunds
       from orders o where o.id = any($1::uuid[])`,
    [orders.map((o) => o.id)],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));

  for (const order of orders) {
    const path = PATHS[order.expect];
    const row = byId.get(order.id);
    if (!row) problem(`order ${order.id} was accepted but is not in the database`);
    else if (row.history.join('>') !== path.join('>'))
      problem(`order ${order.id} (${order.expect}): history ${row.history.join(' > ')}`);
    else ledger.finalStatesCorrect++;

    const expected = {
      payments: 1,
      shipments: order.expect === 'payment-failed' ? 0 : 1,
      notifications: NOTIFICATIONS[order.expect],
      // Money taken for an order that ended cancelled is given back exactly once.
      refunds: order.expect === 'shipping-failed' ? 1 : 0,
    };
    const { payments, refunds } = peers.payments.recorded({ order_id: order.id });
    const shipments = peers.shipping.recorded({ order_id: order.id }).shipments;
    const notifications = peers.notifications.recorded({ order_id: order.id }).notifications;
    const duplicates = [...payments, ...refunds, ...shipments, ...notifications].reduce(
      (sum, r) => sum + r.duplicates,
      0,
    );
    ledger.duplicatesDelivered += duplicates;

    const count = (what: string, seen: number, want: number) => {
      ledger.effects += want;
      if (seen < want) {
        ledger.effectsLost += want - seen;
        problem(`order ${order.id} (${order.expect}): ${what} seen ${seen}, expected ${want}`);
      } else if (seen > want && want > 0) {
        ledger.duplicatesApplied += seen - want;
        lastingProblem(
          `order ${order.id}: ${what} applied ${seen} times (different idempotency keys)`,
        );
      } else if (seen > want) {
        ledger.unexpectedEffects += seen;
        lastingProblem(`order ${order.id} (${order.expect}): ${what} should not have happened`);
      }
    };
    count('payment', payments.length, expected.payments);
    count('shipping request', shipments.length, expected.shipments);
    count('refund', refunds.length, expected.refunds);
    const events = new Map<string, number>();
    for (const n of notifications) events.set(n.event ?? '', (events.get(n.event ?? '') ?? 0) + 1);
    for (const event of expected.notifications)
      count(`${event} notification`, events.get(event) ?? 0, 1);
    for (const [event, seen] of events) {
      if (!expected.notifications.includes(event)) count(`${event} notification`, seen, 0);
    }

    if (webhooks && row) {
      const history = row.history.map((status, i) => ({
        status,
        refundStatus: row.refunds[i] ?? null,
      }));
      const tally = tallyWebhooks(history, webhooks.forOrder(order.id));
      ledger.effects += tally.expected;
      ledger.webhooks += tally.expected;
      ledger.duplicatesDelivered += tally.duplicates;
      ledger.effectsLost += tally.lost.length;
      for (const event of tally.lost) problem(`order ${order.id}: ${event} webhook not taken`);
      for (const { event, ids } of tally.appliedTwice) {
        ledger.duplicatesApplied += ids - 1;
        lastingProblem(`order ${order.id}: ${event} webhook taken under ${ids} webhook-ids`);
      }
      ledger.webhooksForeign += tally.foreign.length;
      for (const event of tally.foreign) {
        problem(`order ${order.id} (history ${row.history.join(' > ')}): ${event} webhook taken`);
      }
      ledger.webhookSignaturesInvalid += tally.badSignatures;
      if (tally.badSignatures) {
        lastingProblem(
          `order ${order.id}: ${tally.badSignatures} webhook signatures did not verify`,
        );
      }
      if (tally.outOfOrder) {
        ledger.webhooksOutOfOrder++;
        lastingProblem(`order ${order.id}: webhooks taken as ${tally.arrived.join(' > ')}`);
      }
    }
  }

  if (webhooks) {
    const strays = webhooks.unattributed();
    ledger.webhookSignaturesInvalid += strays.filter((d) => d.signatureProblem).length;
    ledger.webhooksForeign += strays.filter((d) => d.status >= 200 && d.status < 300).length;
    if (strays.length) problem(`${strays.length} webhook requests named no order`);
  }

  const { rows: quiet } = await pool.query<{ open: number; failed: number; inbox: number }>(
    `select (select count(*) from outbox where completed_at is null and failed_at is null)::int as open,
            (select count(*) from outbox where failed_at is not null)::int as failed,
            (select count(*) from inbox where processed_at is null)::int as inbox`,
  );
  ledger.openOutbox = quiet[0]!.open;
  ledger.failedOutbox = quiet[0]!.failed;
  ledger.unprocessedInbox = quiet[0]!.inbox;
  if (ledger.openOutbox || ledger.failedOutbox) {
    const { rows: stuck } = await pool.query<{
      id: number;
      queue: string;
      event_type: string;
      attempts: number;
      last_error: string | null;
      failed: boolean;
    }>(
      `select id, queue, event_type, attempts, last_error, failed_at is not null as failed
         from outbox where completed_at is null order by id limit 5`,
    );
    for (const r of stuck) {
      problem(
        `outbox ${r.id} ${r.queue}/${r.event_type} ${r.failed ? 'failed' : 'open'} after ` +
          `${r.attempts} attempts: ${r.last_error ?? 'no error recorded'}`,
      );
    }
  }
  if (ledger.unprocessedInbox) problem(`${ledger.unprocessedInbox} inbox rows unprocessed`);
  ledger.problems = [...lasting, ...ledger.problems].slice(0, MAX_PROBLEMS);
  return ledger;
}

/** The issue's conditions on a settled ledger, each as what it is called, its value and the value
 * it must have: isClean and the scenarios' assertions read this one list. */
export function cleanConditions(l: Ledger): Array<[name: string, actual: number, wanted: number]> {
  return [
    ['final states correct', l.finalStatesCorrect, l.orders],
    ['effects lost', l.effectsLost, 0],
    ['duplicates applied', l.duplicatesApplied, 0],
    ['unexpected effects', l.unexpectedEffects, 0],
    ['webhooks not implied by the history', l.webhooksForeign, 0],
    ['webhook signatures invalid', l.webhookSignaturesInvalid, 0],
    ['orders with webhooks out of order', l.webhooksOutOfOrder, 0],
    ['open outbox rows', l.openOutbox, 0],
    ['failed outbox rows', l.failedOutbox, 0],
    ['unprocessed inbox rows', l.unprocessedInbox, 0],
  ];
}

/** True when the ledger is clean: every condition of the issue holds. */
export function isClean(l: Ledger): boolean {
  return cleanConditions(l).every(([, actual, wanted]) => actual === wanted);
}

/** What no amount of waiting undoes: a second key applied, an effect that should never have
 * been, a delivery signed wrongly or taken out of order. */
function lastingFaults(l: Ledger): number {
  return (
    l.duplicatesApplied + l.unexpectedEffects + l.webhookSignaturesInvalid + l.webhooksOutOfOrder
  );
}

/**
 * Waits until the ledger is clean (the system has settled), then returns it; after `timeoutMs`,
 * or as soon as the ledger shows a lasting fault (an effect applied twice, say: waiting cannot undo
 * it), returns it as it is, for the scenario to fail on with its problems named.
 */
export async function settledLedger(input: LedgerInput, timeoutMs: number): Promise<Ledger> {
  let last: Ledger | undefined;
  await waitFor(
    async () => {
      last = await readLedger(input).catch(() => undefined);
      if (last && lastingFaults(last) > 0) return true;
      return last !== undefined && isClean(last);
    },
    { timeoutMs, intervalMs: 1000, what: 'the ledger to balance' },
  ).catch(() => undefined);
  return last ?? readLedger(input);
}
