import { expect } from 'chai';
import {
  afterUnsettledCheck,
  checkInterval,
  firstCheckDelay,
  paymentExpired,
  untilExpiry,
  type PaymentCheckPolicy,
} from '../../lib/domain/payment-checks.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const PRODUCTION: PaymentCheckPolicy = {
  confirmAfterMs: 10 * MIN,
  expireAfterMs: 24 * HOUR,
  maxIntervalMs: HOUR,
};

/** Every check's time after acceptance, as the schedule writes them, until the one that expires. */
function checkTimes(policy: PaymentCheckPolicy): number[] {
  const times = [firstCheckDelay(policy)];
  for (let attempt = 1; ; attempt++) {
    const next = afterUnsettledCheck(policy, attempt, times.at(-1)!);
    if (next.expire) return times;
    times.push(times.at(-1)! + next.delayMs);
  }
}

describe('payment check schedule', () => {
  it('when the production defaults apply, then the checks come at 10, 20, 40, 80 min, then hourly, and the last exactly at 24 h', () => {
    const times = checkTimes(PRODUCTION);

    expect(times.slice(0, 5)).to.deep.equal([10 * MIN, 20 * MIN, 40 * MIN, 80 * MIN, 140 * MIN]);
    expect(times.at(-1)).to.equal(24 * HOUR);
    expect(times).to.have.length(27);
    for (let i = 1; i < times.length; i++) {
      expect(times[i]! - times[i - 1]!).to.be.within(1, HOUR);
    }
  });

  it('when checks keep finding no answer, then each wait doubles from the confirm delay up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => checkInterval(PRODUCTION, a))).to.deep.equal([
      10 * MIN,
      20 * MIN,
      40 * MIN,
      HOUR,
      HOUR,
      HOUR,
    ]);
    expect(checkInterval(PRODUCTION, 10_000)).to.equal(HOUR);
  });

  it('when the next wait would pass the expiry time, then the next check is at the expiry time', () => {
    expect(afterUnsettledCheck(PRODUCTION, 20, 24 * HOUR - 5 * MIN)).to.deep.equal({
      expire: false,
      delayMs: 5 * MIN,
    });
  });

  it('when a check is made at or after the expiry time, then it expires the order', () => {
    expect(afterUnsettledCheck(PRODUCTION, 27, 24 * HOUR)).to.deep.equal({ expire: true });
    expect(afterUnsettledCheck(PRODUCTION, 3, 25 * HOUR)).to.deep.equal({ expire: true });
    expect(paymentExpired(PRODUCTION, 24 * HOUR)).to.equal(true);
    expect(paymentExpired(PRODUCTION, 24 * HOUR - 1)).to.equal(false);
  });

  it('when the check cannot ask (no payment id), then the next check is the expiry one', () => {
    expect(untilExpiry(PRODUCTION, 10 * MIN)).to.deep.equal({
      expire: false,
      delayMs: 24 * HOUR - 10 * MIN,
    });
    expect(untilExpiry(PRODUCTION, 24 * HOUR)).to.deep.equal({ expire: true });
  });

  it('when the time since acceptance has fractions of a ms (a clock reading), then every delay is whole ms', () => {
    const near = afterUnsettledCheck(PRODUCTION, 27, 24 * HOUR - 1234.567);
    const none = untilExpiry(PRODUCTION, 10 * MIN + 0.25);

    expect(near).to.deep.equal({ expire: false, delayMs: 1235 });
    expect(none).to.deep.equal({ expire: false, delayMs: 24 * HOUR - 10 * MIN });
  });

  it('when the expiry comes before the confirm delay, then the first check is at the expiry time', () => {
    expect(firstCheckDelay({ ...PRODUCTION, expireAfterMs: 5 * MIN })).to.equal(5 * MIN);
  });

  it('when the fault suite shortens the timers, then the second check comes one backoff (the confirm delay) after the first', () => {
    const times = checkTimes({ confirmAfterMs: 3000, expireAfterMs: 60_000, maxIntervalMs: 3000 });

    expect(times.slice(0, 3)).to.deep.equal([3000, 6000, 9000]);
  });
});
