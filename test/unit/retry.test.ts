import { expect } from 'chai';
import sinon from 'sinon';
import {
  backoffDelayMs,
  isProgrammingError,
  retry,
  type Backoff,
} from '../../lib/platform/retry.js';

const FAST: Backoff = { minMs: 1, maxMs: 5 };

/** A step that fails with `errors` in turn, then returns 'ok'; counts its calls. */
function failing(...errors: Error[]) {
  const step = sinon.spy(async () => {
    const err = errors[step.callCount - 1];
    if (err) throw err;
    return 'ok';
  });
  return step;
}

const caught = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('retry (the one in-process retry: p-retry, capped exponential backoff with jitter)', () => {
  afterEach(() => sinon.restore());

  it('when a step fails twice for a passing reason, then it is tried again and its value returned', async () => {
    const step = failing(new Error('connect ECONNREFUSED'), new Error('Connection is closed.'));
    const retried: number[] = [];
    const value = await retry(step, { backoff: FAST, onRetry: (_err, n) => void retried.push(n) });
    expect(value).to.equal('ok');
    expect(step.callCount).to.equal(3);
    expect(retried).to.deep.equal([1, 2]);
  });

  for (const bug of [
    new TypeError("Cannot read properties of undefined (reading 'id')"),
    new ReferenceError('orderId is not defined'),
    new SyntaxError('Unexpected token'),
    new RangeError('Invalid time value'),
  ]) {
    it(`when a step throws a ${bug.name} (a bug), then it fails at once with that error and is not retried`, async () => {
      const step = failing(bug);
      const onRetry = sinon.spy();
      expect(await caught(retry(step, { backoff: FAST, onRetry }))).to.equal(bug);
      expect(step.callCount).to.equal(1);
      expect(onRetry.called).to.equal(false);
    });
  }

  it('when the bug is wrapped as the cause (as drizzle wraps a failed query), then it fails at once too', async () => {
    const wrapped = new Error('Failed query: select 1', {
      cause: new TypeError('Do not know how to serialize a BigInt'),
    });
    const step = failing(wrapped);
    expect(await caught(retry(step, { backoff: FAST }))).to.equal(wrapped);
    expect(step.callCount).to.equal(1);
    expect(isProgrammingError(new Error('outer', { cause: new Error('inner') }))).to.equal(false);
  });

  it('when the caller marks a failure permanent, then it fails at once with it', async () => {
    class Rejected extends Error {}
    const rejected = new Rejected('422');
    const step = failing(new Error('503'), rejected);
    const err = await caught(
      retry(step, { backoff: FAST, permanent: (e) => e instanceof Rejected }),
    );
    expect(err).to.equal(rejected);
    expect(step.callCount).to.equal(2);
  });

  it('when the retries are bounded, then the last error comes after retries + 1 tries', async () => {
    const last = new Error('third');
    const step = failing(new Error('first'), new Error('second'), last);
    expect(await caught(retry(step, { backoff: FAST, retries: 2 }))).to.equal(last);
    expect(step.callCount).to.equal(3);
  });

  it('when the signal aborts during a wait, then it rejects at once with the reason and tries no more', async () => {
    const stopping = new AbortController();
    const step = failing(new Error('down'), new Error('down'));
    const startedAt = Date.now();
    const err = await caught(
      retry(step, {
        backoff: { minMs: 60_000, maxMs: 60_000 },
        signal: stopping.signal,
        onRetry: () => stopping.abort(new Error('shutting down')),
      }),
    );
    expect((err as Error).message).to.equal('shutting down');
    expect(step.callCount).to.equal(1);
    expect(Date.now() - startedAt).to.be.below(1000);
  });

  it('when the signal aborts while a step succeeds, then its value is kept, not thrown away', async () => {
    const stopping = new AbortController();
    const value = await retry(
      async () => {
        stopping.abort();
        return 'committed';
      },
      { backoff: FAST, signal: stopping.signal },
    );
    expect(value).to.equal('committed');
  });

  it('when a step keeps failing, then the waits double from minMs, each stretched by up to 2×, and stay at maxMs', async () => {
    // Only the timers retry uses: faking them all would also run every other timer left in the
    // test process (pools, clients), which runAllAsync could then never finish.
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const startedAt: number[] = [];
    const failures = 7;
    const done = retry(
      async () => {
        startedAt.push(clock.now);
        if (startedAt.length <= failures) throw new Error('down');
        return 'ok';
      },
      { backoff: { minMs: 100, maxMs: 1000 } },
    );
    for (let step = 0; step < 200 && startedAt.length <= failures; step += 1) {
      await clock.tickAsync(50);
    }
    expect(await done).to.equal('ok');
    const waits = startedAt.slice(1).map((t, i) => t - startedAt[i]!);
    expect(waits).to.have.length(failures);
    waits.forEach((wait, i) => {
      const nominal = 100 * 2 ** i;
      expect(wait, `wait ${i + 1}`).to.be.within(
        Math.min(1000, nominal),
        Math.min(1000, 2 * nominal),
      );
    });
    expect(waits.slice(-3)).to.deep.equal([1000, 1000, 1000]);
  });

  it('when ioredis asks for its reconnect delay, then it gets the same rule, capped and finite for any count', () => {
    const backoff = { minMs: 100, maxMs: 2000 };
    const bottom = () => 0;
    const top = () => 1 - Number.EPSILON;
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(backoff, n, bottom))).to.deep.equal([
      100, 200, 400, 800, 1600, 2000,
    ]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(backoff, n, top))).to.deep.equal([
      200, 400, 800, 1600, 2000,
    ]);
    for (const n of [0, 50, 1100, 1e6]) {
      expect(backoffDelayMs(backoff, n), `attempt ${n}`).to.be.within(100, 2000);
    }
  });
});
