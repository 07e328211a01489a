import { expect } from 'chai';
import {
  expectedWebhookEvents,
  tallyWebhooks,
  type HistoryRow,
  type ReceivedDelivery,
} from '../faults/support/webhook-ledger.js';

const row = (status: string, refundStatus: string | null = null): HistoryRow => ({
  status,
  refundStatus,
});

const SHIPPED = [row('new'), row('paid'), row('shipped')];
const REFUNDED = [
  row('new'),
  row('paid'),
  row('cancelled', 'requested'),
  row('cancelled', 'refunded'),
];

let clock = 1_000;
/** A delivery taken (204) with a valid signature, unless overridden; each arrives after the last. */
const delivery = (type: string, over: Partial<ReceivedDelivery> = {}): ReceivedDelivery => ({
  messageId: `msg_${type}`,
  type,
  orderId: 'order-1',
  at: (clock += 10),
  status: 204,
  ...over,
});

describe("fault suite's webhook ledger (the events an order's history implies, against the deliveries taken)", () => {
  describe('expected events', () => {
    it('when an order was paid and shipped, then created, paid and shipped are owed, in that order', () => {
      expect(expectedWebhookEvents(SHIPPED)).to.deep.equal([
        'order.created',
        'order.paid',
        'order.shipped',
      ]);
    });

    it('when its payment failed, then created and cancelled are owed', () => {
      expect(expectedWebhookEvents([row('new'), row('cancelled')])).to.deep.equal([
        'order.created',
        'order.cancelled',
      ]);
    });

    it('when a paid order was cancelled and refunded, then the refund merely requested owes nothing and the refund settled owes order.refunded', () => {
      expect(expectedWebhookEvents(REFUNDED)).to.deep.equal([
        'order.created',
        'order.paid',
        'order.cancelled',
        'order.refunded',
      ]);
    });

    it('when a refund failed and later succeeded, then refund_failed and then refunded are owed', () => {
      const history = [
        ...REFUNDED.slice(0, 3),
        row('cancelled', 'failed'),
        row('cancelled', 'refunded'),
      ];
      expect(expectedWebhookEvents(history).slice(3)).to.deep.equal([
        'order.refund_failed',
        'order.refunded',
      ]);
    });

    it('when a row changes neither status nor refund (a cancellation asked of Shipping), then it owes nothing', () => {
      expect(
        expectedWebhookEvents([row('new'), row('paid'), row('paid'), row('shipped')]),
      ).to.deep.equal(['order.created', 'order.paid', 'order.shipped']);
    });

    it('when the history is empty (the order is gone), then nothing is owed', () => {
      expect(expectedWebhookEvents([])).to.deep.equal([]);
    });

    it('when the history moves to a status the contract has no event for, then it says so rather than guess', () => {
      expect(() => expectedWebhookEvents([row('new'), row('teleported')])).to.throw(/teleported/);
    });
  });

  describe('tally', () => {
    it('when every owed event was taken once, in order, then nothing is wrong', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid'),
        delivery('order.shipped'),
      ]);
      expect(tally).to.deep.include({
        expected: 3,
        lost: [],
        appliedTwice: [],
        foreign: [],
        duplicates: 0,
        badSignatures: 0,
        outOfOrder: false,
      });
    });

    it('when refused attempts (503) came before the one taken, then they are neither duplicates nor deliveries', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created', { status: 503 }),
        delivery('order.created', { status: 503 }),
        delivery('order.created'),
        delivery('order.paid'),
        delivery('order.shipped'),
      ]);
      expect(tally.duplicates).to.equal(0);
      expect(tally.lost).to.deep.equal([]);
    });

    it('when a webhook-id was taken twice, then it is one delivery and one duplicate, not a fault', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid'),
        delivery('order.paid'),
        delivery('order.shipped'),
      ]);
      expect(tally.duplicates).to.equal(1);
      expect(tally.appliedTwice).to.deep.equal([]);
      expect(tally.outOfOrder).to.equal(false);
    });

    it('when an event was taken under two webhook-ids, then it was applied twice', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid'),
        delivery('order.paid', { messageId: 'msg_other' }),
        delivery('order.shipped'),
      ]);
      expect(tally.appliedTwice).to.deep.equal([{ event: 'order.paid', ids: 2 }]);
    });

    it('when an owed event was only ever refused, then it is lost', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid', { status: 503 }),
      ]);
      expect(tally.lost).to.deep.equal(['order.paid', 'order.shipped']);
      expect(tally.outOfOrder).to.equal(false);
    });

    it('when an event the history does not imply was taken, then it is foreign', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid'),
        delivery('order.cancelled'),
        delivery('order.shipped'),
      ]);
      expect(tally.foreign).to.deep.equal(['order.cancelled']);
      expect(tally.outOfOrder).to.equal(false);
    });

    it('when a later event was first taken before an earlier one, then the order is out of order, even if the earlier one had been refused before', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid', { status: 503 }),
        delivery('order.shipped'),
        delivery('order.paid'),
      ]);
      expect(tally.outOfOrder).to.equal(true);
      expect(tally.arrived).to.deep.equal(['order.created', 'order.shipped', 'order.paid']);
    });

    it('when a repeat of an earlier event arrives after a later one, then the order still holds (a receiver deduplicates the repeat)', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created'),
        delivery('order.paid'),
        delivery('order.shipped'),
        delivery('order.paid'),
      ]);
      expect(tally.outOfOrder).to.equal(false);
      expect(tally.duplicates).to.equal(1);
    });

    it('when deliveries are listed out of arrival order, then they are judged by when they arrived', () => {
      const [created, paid, shipped] = ['order.created', 'order.paid', 'order.shipped'].map((t) =>
        delivery(t),
      );
      expect(tallyWebhooks(SHIPPED, [shipped!, created!, paid!]).outOfOrder).to.equal(false);
    });

    it('when a signature did not verify, then it is counted, and the delivery took nothing even though it was answered 2xx', () => {
      const tally = tallyWebhooks(SHIPPED, [
        delivery('order.created', { signatureProblem: 'No matching signature found' }),
        delivery('order.paid'),
        delivery('order.shipped'),
      ]);
      expect(tally.badSignatures).to.equal(1);
      expect(tally.lost).to.deep.equal(['order.created']);
    });
  });
});
