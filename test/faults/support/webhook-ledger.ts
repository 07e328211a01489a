/**
 * The webhook part of the fault suite's ledger (ledger.ts): what a subscriber to every event
 * should have received for one order, read off the order's status history, against what the
 * suite's receiver (webhook-receiver.ts) took.
 *
 * The expected events are derived here from the history rows, on purpose not by calling the
 * service's own rule (lib/domain/order-events.ts): a ledger that asked the code under test what
 * to expect would agree with any mistake in it. The reading is the contract's
 * (docs/webhooks.md): the first row is the intake (order.created); a row whose status differs
 * from the row before is that status's event (order.paid, order.shipped, order.cancelled); a row
 * whose refund status became refunded or failed is order.refunded or order.refund_failed; any
 * other row (a refund merely requested, a cancellation asked of Shipping, a late payment) tells a
 * subscriber nothing.
 */

/** One order_status_history row, oldest first. */
export interface HistoryRow {
  status: string;
  refundStatus: string | null;
}

/** One request the receiver got, as the ledger reads it. */
export interface ReceivedDelivery {
  /** The `webhook-id` header (undefined when missing). */
  messageId: string | undefined;
  /** The payload's `type`. */
  type: string | undefined;
  /** The payload's `data.id`. */
  orderId: string | undefined;
  /** When it arrived (ms since the epoch). */
  at: number;
  /** What the receiver answered: only a 2xx took the delivery. */
  status: number;
  /** Why `standardwebhooks` refused it at arrival; undefined when it verified. */
  signatureProblem?: string;
}

const STATUS_EVENTS: Record<string, string> = {
  paid: 'order.paid',
  shipped: 'order.shipped',
  cancelled: 'order.cancelled',
};

const REFUND_EVENTS: Record<string, string> = {
  refunded: 'order.refunded',
  failed: 'order.refund_failed',
};

/** The events a subscriber to `*` is owed for an order with this history, in order. */
export function expectedWebhookEvents(history: HistoryRow[]): string[] {
  const events: string[] = [];
  let before: HistoryRow | undefined;
  for (const row of history) {
    if (!before) events.push('order.created');
    else if (row.status !== before.status) {
      const event = STATUS_EVENTS[row.status];
      if (!event) throw new Error(`history moves from ${before.status} to ${row.status}`);
      events.push(event);
    } else if (row.refundStatus !== before.refundStatus && row.refundStatus) {
      const event = REFUND_EVENTS[row.refundStatus];
      if (event) events.push(event);
    }
    before = row;
  }
  return events;
}

/** What one order's deliveries came to, for the ledger to add up. */
export interface WebhookTally {
  /** Deliveries owed (one per expected event). */
  expected: number;
  /** Expected events no delivery took. */
  lost: string[];
  /** Expected events taken under more than one webhook-id (each extra id counts once). */
  appliedTwice: Array<{ event: string; ids: number }>;
  /** Taken deliveries of events the history does not imply, or of no known event. */
  foreign: string[];
  /** Deliveries of a webhook-id already taken: harmless, a deduplicating receiver drops them. */
  duplicates: number;
  /** Requests whose signature did not verify (whatever was answered). */
  badSignatures: number;
  /** True when the events, each at its first taken delivery, came in another order than the history's. */
  outOfOrder: boolean;
  /** The events in the order they were first taken (for a problem's text). */
  arrived: string[];
}

const taken = (d: ReceivedDelivery) => d.status >= 200 && d.status < 300;

/**
 * Tallies one order's deliveries against its history. Deduplication is by webhook-id, as a
 * receiver does it; a request that was refused (non-2xx) took nothing and is only checked for
 * its signature. A delivery with a bad signature took nothing either, whatever was answered: a
 * receiver that verifies would have refused it.
 */
export function tallyWebhooks(history: HistoryRow[], deliveries: ReceivedDelivery[]): WebhookTally {
  const expected = expectedWebhookEvents(history);
  const badSignatures = deliveries.filter((d) => d.signatureProblem !== undefined).length;
  const firsts = new Map<string, ReceivedDelivery>();
  let duplicates = 0;
  for (const d of [...deliveries].sort((a, b) => a.at - b.at)) {
    if (!taken(d) || d.signatureProblem !== undefined) continue;
    // Without an id a receiver cannot deduplicate: each such delivery stands alone.
    const key = d.messageId ?? `no id #${firsts.size}`;
    if (firsts.has(key)) duplicates++;
    else firsts.set(key, d);
  }
  const arrived = [...firsts.values()].map((d) => d.type ?? '(no type)');

  const idsPerEvent = new Map<string, number>();
  for (const event of arrived) idsPerEvent.set(event, (idsPerEvent.get(event) ?? 0) + 1);
  const lost = expected.filter((e) => !idsPerEvent.has(e));
  const appliedTwice = expected
    .filter((e) => (idsPerEvent.get(e) ?? 0) > 1)
    .map((event) => ({ event, ids: idsPerEvent.get(event)! }));
  const foreign = arrived.filter((e) => !expected.includes(e));

  // Order is judged on the events that are owed and arrived; one lost or foreign is its own fault.
  const inOrder = arrived.filter((e, i) => expected.includes(e) && arrived.indexOf(e) === i);
  const owedArrived = expected.filter((e) => idsPerEvent.has(e));
  const outOfOrder = inOrder.join('>') !== owedArrived.join('>');

  return {
    expected: expected.length,
    lost,
    appliedTwice,
    foreign,
    duplicates,
    badSignatures,
    outOfOrder,
    arrived,
  };
}
