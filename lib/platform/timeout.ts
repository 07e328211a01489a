/**
 * The one way to bound a step whose API takes no AbortSignal (where it takes one, pass
 * `AbortSignal.timeout(ms)`): health checks, shutdown steps, enqueueing, closing workers.
 * Resolves with `work`, or after `ms` with what `onTimeout()` returns; when `onTimeout` throws,
 * rejects with that. The work itself goes on: it has no way to be cancelled, which is why it
 * needed a bound.
 */
export async function withinMs<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => T | Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(
      () => {
        Promise.resolve().then(onTimeout).then(resolve, reject);
      },
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
