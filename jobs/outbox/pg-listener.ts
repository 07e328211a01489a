import pg from 'pg';
import type { Logger } from '../../lib/platform/logger.js';
import { retry } from '../../lib/platform/retry.js';

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
  const backoff = { minMs: options.minRetryMs ?? 100, maxMs: options.maxRetryMs ?? 5000 };
  let client: pg.Client | undefined;
  let stopped = false;
  let stopping = new AbortController();
  let connecting: Promise<void> | undefined;

  /** One try: connect and LISTEN. Throws when either fails; a later loss reconnects. */
  async function open(): Promise<void> {
    const c = new pg.Client({
      connectionString: url,
      application_name: options.applicationName ?? 'order-service-listen',
      // A silently dead peer (no RST) is noticed instead of waiting forever for notifications.
      keepAlive: true,
    });
    let lost = false;
    let established = false;
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
      if (!established || stopped) return;
      logger.warn({ err, channel }, 'LISTEN connection lost; reconnecting');
      void connect();
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
      throw err;
    }
    if (lost) throw new Error('LISTEN connection closed while it was being set up');
    if (stopped) {
      await c.end();
      return;
    }
    established = true;
    client = c;
    onConnected();
  }

  /** Resolves after the first try; the retries (with backoff) go on in the background. */
  function connect(): Promise<void> {
    let firstTried!: () => void;
    const first = new Promise<void>((resolve) => (firstTried = resolve));
    let failures = 0;
    const { signal } = stopping;
    const cycle: Promise<void> = retry(open, {
      backoff,
      signal,
      onRetry: (err, attempt) => {
        failures = attempt;
        firstTried();
        logger.warn({ err, channel, failures }, 'LISTEN connection failed; retrying');
      },
    })
      .then(() => {
        if (failures > 0) logger.info({ channel }, 'LISTEN connection restored');
      })
      .catch((err: unknown) => {
        if (signal.aborted) return;
        // A bug: not retried. Whoever LISTENs has a slow poll to fall back on.
        logger.error({ err, channel }, 'LISTEN connection failed with a bug; not retrying it');
      })
      .finally(() => {
        if (connecting === cycle) connecting = undefined;
        firstTried();
      });
    connecting = cycle;
    return first;
  }

  return {
    start() {
      stopped = false;
      stopping = new AbortController();
      return connect();
    },
    async stop() {
      stopped = true;
      stopping.abort();
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
