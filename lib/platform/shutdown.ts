import type { Logger } from './logger.js';
import { withinMs } from './timeout.js';

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
    // Past the bound the process exits anyway, whatever stop() is still waiting for.
    withinMs(
      stop().then(() => 'stopped' as const),
      timeoutMs + 1000,
      () => 'cut short' as const,
    ).then(
      (outcome) => {
        if (outcome === 'cut short') {
          logger.error({ timeout_ms: timeoutMs }, 'shutdown took too long; exiting anyway');
          process.exit(1);
        }
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
