import { expect } from 'chai';
import { deferred } from '../../scripts/testkit/wait.js';
import { runInLanes } from '../faults/support/schedule.js';

/** The fault suite's lanes: at most N scenarios at a time, and a quiet one gives its lane back. */
describe("fault suite's lanes (runInLanes)", () => {
  it('when one lane runs three items that each finish, then they run one after the other, in order', async () => {
    const events: string[] = [];

    await runInLanes(['a', 'b', 'c'], 1, async (item) => {
      events.push(`start ${item}`);
      await Promise.resolve();
      events.push(`end ${item}`);
    });

    expect(events).to.deep.equal(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('when an item frees its lane before it ends, then the next starts beside it, and the whole resolves before it ends', async () => {
    const events: string[] = [];
    const longOne = deferred();

    await runInLanes(['quiet', 'next'], 1, async (item, laneFree) => {
      events.push(`start ${item}`);
      if (item === 'quiet') {
        laneFree();
        await longOne.promise;
      }
      events.push(`end ${item}`);
    });

    expect(events).to.deep.equal(['start quiet', 'start next', 'end next']);
    longOne.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.at(-1)).to.equal('end quiet');
  });

  it('when two lanes run four items, then never more than two run at once', async () => {
    let running = 0;
    let most = 0;

    await runInLanes([1, 2, 3, 4], 2, async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    });

    expect(most).to.equal(2);
  });

  it('when an item fails after it freed its lane, then the failure is still reported', async () => {
    const reported: string[] = [];
    const fail = deferred();

    await runInLanes(
      ['quiet'],
      1,
      async (_item, laneFree) => {
        laneFree();
        await fail.promise;
      },
      (item, err) => reported.push(`${item}: ${(err as Error).message}`),
    );
    fail.reject(new Error('clean-up failed'));
    await new Promise((resolve) => setImmediate(resolve));

    expect(reported).to.deep.equal(['quiet: clean-up failed']);
  });

  it('when an item fails before it freed its lane, then the whole fails with it', async () => {
    const run = runInLanes(['bad'], 1, () => Promise.reject(new Error('could not start')));

    await run.then(
      () => expect.fail('runInLanes resolved'),
      (err: Error) => expect(err.message).to.equal('could not start'),
    );
  });
});
