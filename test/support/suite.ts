/**
 * What a describe block starts once for its tests: started in the block's `before` hook, stopped in
 * its `after`. The object returned is filled in by that hook (its own properties copied over), so
 * the block's tests, and its hooks registered after this call, use it as the started one. Mocha
 * runs `after` hooks in the order they were registered: this one stops it before any `after`
 * written below the call, so what must stop first (a worker using its database) cannot use it.
 */
export function startedForSuite<T extends { stop(): Promise<void> }>(start: () => Promise<T>): T;
/** The same, for what is stopped otherwise (a test database is dropped). */
export function startedForSuite<T extends object>(
  start: () => Promise<T>,
  stop: (started: T) => Promise<unknown>,
): T;
export function startedForSuite<T extends object>(
  start: () => Promise<T>,
  stop: (started: T) => Promise<unknown> = (started) =>
    (started as T & { stop(): Promise<void> }).stop(),
): T {
  const shown = {} as T;
  let started: T | undefined;
  before(async () => {
    started = await start();
    Object.assign(shown, started);
  });
  after(async () => {
    if (started) await stop(started);
  });
  return shown;
}
