import { expect } from 'chai';
import sinon from 'sinon';
import {
  BACKOFF_TYPE,
  RETRY_JITTER,
  attemptsToCover,
  backoffStrategy,
  retryDelay,
  retryWindowOver,
  type RetryPolicy,
} from '../../jobs/outbox/retry-policy.js';

const DEFAULTS: RetryPolicy = { baseMs: 500, maxMs: 60_000, windowMs: 24 * 3600_000 };

describe('retry policy (capped exponential backoff with jitter, for a window)', () => {
  afterEach(() => sinon.restore());

  it('when the jitter draw is at its top, then delays double from the first one until the cap, and stay there', () => {
    const top = sinon.stub().returns(1 - Number.EPSILON);
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 2000].map((n) => retryDelay(DEFAULTS, n, top));
    expect(delays).to.deep.equal([
      500, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000,
    ]);
  });

  it('when the jitter draw is at its bottom, then each delay is the capped exponential less the jitter share', () => {
    const bottom = sinon.stub().returns(0);
    expect(retryDelay(DEFAULTS, 1, bottom)).to.equal(500 * (1 - RETRY_JITTER));
    expect(retryDelay(DEFAULTS, 40, bottom)).to.equal(60_000 * (1 - RETRY_JITTER));
  });

  it('when attempts run into the thousands, then no delay exceeds the cap or stops being a finite whole number', () => {
    for (const attempts of [1, 10, 30, 1024, 1100, 5000, 1e6]) {
      const delay = retryDelay(DEFAULTS, attempts);
      expect(Number.isSafeInteger(delay), `attempt ${attempts}: ${delay}`).to.equal(true);
      expect(delay, `attempt ${attempts}`).to.be.within(1, DEFAULTS.maxMs);
    }
  });

  it('when many jobs retry at the cap, then their delays are spread over the jitter range, not all the same', () => {
    const delays = Array.from({ length: 2000 }, () => retryDelay(DEFAULTS, 100));
    const low = DEFAULTS.maxMs * (1 - RETRY_JITTER);
    expect(delays.every((d) => d >= low && d <= DEFAULTS.maxMs)).to.equal(true);
    expect(Math.min(...delays)).to.be.below(low + 0.1 * DEFAULTS.maxMs);
    expect(Math.max(...delays)).to.be.above(DEFAULTS.maxMs * 0.9);
    expect(new Set(delays).size).to.be.above(500);
  });

  it('when BullMQ asks the strategy for our backoff type, then it answers the policy’s delay; for another type it refuses', () => {
    sinon.stub(Math, 'random').returns(0.5);
    const strategy = backoffStrategy({ baseMs: 100, maxMs: 1000, windowMs: 10_000 });
    expect(strategy(1, BACKOFF_TYPE)).to.equal(75);
    expect(strategy(20, BACKOFF_TYPE)).to.equal(750);
    expect(() => strategy(1, 'linear')).to.throw(/unknown backoff type "linear"/);
  });

  for (const policy of [
    DEFAULTS,
    { baseMs: 10, maxMs: 100, windowMs: 3000 },
    { baseMs: 1000, maxMs: 1000, windowMs: 60_000 },
    { baseMs: 500, maxMs: 60_000, windowMs: 30_000 },
  ]) {
    it(`when the window is ${policy.windowMs} ms with delays ${policy.baseMs}…${policy.maxMs} ms, then the attempts last at least the window even if every delay is the shortest`, () => {
      const attempts = attemptsToCover(policy);
      const bottom = () => 0;
      let elapsed = 0;
      // attempts - 1 retries follow the first try.
      for (let made = 1; made < attempts; made++) elapsed += retryDelay(policy, made, bottom);
      expect(elapsed).to.be.at.least(policy.windowMs);
      // …and not wildly more than needed: one more shortest cap delay at most.
      const withoutLast = elapsed - retryDelay(policy, attempts - 1, bottom);
      expect(withoutLast).to.be.below(policy.windowMs);
    });
  }

  it('when the defaults apply, then a job may try about 2,900 times over 24 h', () => {
    expect(attemptsToCover(DEFAULTS)).to.be.within(2880, 2900);
  });

  it('when a job was added a window ago, then its window is over; a moment earlier it is not', () => {
    const clock = sinon.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const addedAt = Date.now();
    clock.tick(DEFAULTS.windowMs - 1);
    expect(retryWindowOver(DEFAULTS, addedAt)).to.equal(false);
    clock.tick(1);
    expect(retryWindowOver(DEFAULTS, addedAt)).to.equal(true);
  });
});
