/**
 * What a describe block starts once for its tests: started in the block's `before` hook, stopped in
 * its `after`. The object returned is filled in by that hook (its own properties copied over), so
 * the block's tests, and its hooks registered after this call, use it as the started one.
 */
export function startedForSuite<T extends { stop(): Promise<void> }>(start: () => Promise<T>): T {
  const shown = {} as T;
  let started: T | undefined;
  before(async () => {
    started = await start();
    Object.assign(shown, started);
  });
  after(async () => {
    await started?.stop();
  });
  return shown;
}
