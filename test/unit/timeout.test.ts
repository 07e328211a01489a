import { expect } from 'chai';
import sinon from 'sinon';
import { withinMs } from '../../lib/platform/timeout.js';

describe('withinMs (the one bound on a step that takes no AbortSignal)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => sinon.restore());

  const never = () => new Promise<string>(() => undefined);

  it('when the work finishes first, then its value, and onTimeout never runs', async () => {
    const onTimeout = sinon.spy(() => 'late');
    expect(await withinMs(Promise.resolve('done'), 1000, onTimeout)).to.equal('done');
    await clock.tickAsync(2000);
    expect(onTimeout.called).to.equal(false);
  });

  it('when the work fails first, then that failure', async () => {
    const err = await withinMs(Promise.reject(new Error('refused')), 1000, () => 'late').catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).to.equal('refused');
  });

  it('when the work takes longer than the bound, then what onTimeout returns, at the bound', async () => {
    let settled: string | undefined;
    const result = withinMs(never(), 1000, () => 'cut short').then((v) => (settled = v));
    await clock.tickAsync(999);
    expect(settled).to.equal(undefined);
    await clock.tickAsync(1);
    await result;
    expect(settled).to.equal('cut short');
  });

  it('when onTimeout throws, then the bound rejects with that', async () => {
    const result = withinMs(never(), 50, () => {
      throw new Error('redis did not answer within 50 ms');
    }).catch((e: unknown) => e);
    await clock.tickAsync(50);
    expect(((await result) as Error).message).to.equal('redis did not answer within 50 ms');
  });

  it('when the work finishes, then no timer is left behind', async () => {
    await withinMs(Promise.resolve(1), 60_000, () => 0);
    expect(clock.countTimers()).to.equal(0);
  });
});
