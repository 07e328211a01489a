import type { Logger } from './logger.js';

/**
 * Runs `stop` once on SIGTERM or SIGINT and exits: 0 when it finished within `timeoutMs`, 1 when
 * it failed or had to be cut short. Heroku sends SIGTERM and kills 30 s later; the bound stays below.
 */
export function exitOnSignals(stop: () => Promise<void>, timeoutMs: number, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeout_ms: timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'shutdown took too long; exiting anyway');
      process.exit(1);
    }, timeoutMs + 1000);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Resolves with `work`, or after `ms` with `onTimeout()`: for steps that have no bound of their own. */
export async function withinMs<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => T | Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      Promise.resolve().then(onTimeout).then(resolve, reject);
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
