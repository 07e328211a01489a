import type { Logger } from '../lib/platform/logger.js';

/**
 * Runs a task every `everyMs`, measured from the end of one run to the start of the next, so runs
 * never overlap. A failed run is logged and the schedule goes on.
 */
export interface Periodic {
  start(): void;
  /** Cancels the next run and waits for the current one. */
  stop(): Promise<void>;
}

export function periodic(
  name: string,
  everyMs: number,
  task: () => Promise<unknown>,
  logger: Logger,
): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = task()
        .then(
          () => undefined,
          (err: unknown) => logger.error({ err, task: name }, 'periodic task failed'),
        )
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, everyMs);
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
