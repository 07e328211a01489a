import pg from 'pg';
import type { Logger } from '../lib/platform/logger.js';

/**
 * A dedicated Postgres connection LISTENing on one channel (a pooled connection cannot LISTEN:
 * it goes back to the pool). Reconnects with backoff when the connection drops, and calls
 * onConnected after every (re)connect: notifications sent while it was down are lost, so the
 * caller catches up then.
 */
export interface PgListenerOptions {
  url: string;
  channel: string;
  logger: Logger;
  onNotify(): void;
  onConnected(): void;
  /** First reconnect delay; doubles per failure up to maxRetryMs. @defaultValue 100 */
  minRetryMs?: number;
  /** @defaultValue 5000 */
  maxRetryMs?: number;
  /** @defaultValue 'order-service-listen' */
  applicationName?: string;
}

export interface PgListener {
  /** Resolves after the first attempt; when it failed, retries continue in the background. */
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly connected: boolean;
}

export function createPgListener(options: PgListenerOptions): PgListener {
  const { url, channel, logger, onNotify, onConnected } = options;
  const minRetryMs = options.minRetryMs ?? 100;
  const maxRetryMs = options.maxRetryMs ?? 5000;
  let client: pg.Client | undefined;
  let stopped = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let connecting: Promise<void> | undefined;

  function connect(): Promise<void> {
    connecting = attempt().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  async function attempt(): Promise<void> {
    const c = new pg.Client({
      connectionString: url,
      application_name: options.applicationName ?? 'order-service-listen',
      // A silently dead peer (no RST) is noticed instead of waiting forever for notifications.
      keepAlive: true,
    });
    let lost = false;
    const onLost = (err?: Error, ended = false) => {
      if (lost) return;
      lost = true;
      if (client === c) client = undefined;
      c.removeAllListeners('notification');
      if (!ended) {
        c.end().catch((endErr: unknown) =>
          logger.debug({ err: endErr }, 'closing a broken LISTEN connection failed'),
        );
      }
      if (stopped) return;
      failures += 1;
      const waitMs = Math.min(minRetryMs * 2 ** (failures - 1), maxRetryMs);
      logger.warn({ err, channel, retryInMs: waitMs }, 'LISTEN connection lost; reconnecting');
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        void connect();
      }, waitMs);
    };
    c.on('notification', (msg) => {
      if (msg.channel === channel) onNotify();
    });
    c.on('error', onLost);
    c.on('end', () => onLost(undefined, true));
    try {
      await c.connect();
      await c.query(`LISTEN ${c.escapeIdentifier(channel)}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (stopped || lost) {
      if (!lost) await c.end();
      return;
    }
    client = c;
    if (failures > 0) logger.info({ channel }, 'LISTEN connection restored');
    failures = 0;
    onConnected();
  }

  return {
    start() {
      stopped = false;
      return connect();
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await connecting;
      const c = client;
      client = undefined;
      if (c) await c.end();
    },
    get connected() {
      return client !== undefined;
    },
  };
}
