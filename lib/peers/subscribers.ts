import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import fetch, { type Response } from 'node-fetch';
import { PeerUnavailableError } from '../domain/errors.js';
import { toStorableText } from '../domain/storable-text.js';
import { publicOnlyLookup, subscriberUrlProblem } from './subscriber-address.js';
import { signWebhook, WEBHOOK_HEADERS } from './webhook-signature.js';

/**
 * The one module that sends order webhooks to subscribers (docs/webhooks.md): a POST of the
 * stored body, signed the Standard Webhooks way (lib/peers/webhook-signature.ts) with the
 * subscription's secret and, during a rotation, its previous one too. Unless private URLs are
 * allowed, the URL is judged again before each send and every address a name resolves to is
 * judged at connection (publicOnlyLookup); redirects are not followed, since a redirect to a
 * literal address would step around that check. What an answer means is the caller's.
 */
export interface SubscribersOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

export interface Delivery {
  url: string;
  secret: string;
  /** Signs too while a rotation's overlap lasts. */
  previousSecret?: string | null;
  /** The `webhook-id`. */
  messageId: string;
  body: string;
}

/** Bytes of an answer kept with the attempt. */
export const ANSWER_EXCERPT_BYTES = 200;

export type DeliveryResult =
  | { kind: 'answered'; status: number; excerpt: string; latencyMs: number }
  | { kind: 'unreachable'; error: SubscriberUnavailableError; latencyMs: number };

/** Delivery did not reach a 2xx: retried with the other effects' window and backoff. */
export class SubscriberUnavailableError extends PeerUnavailableError {
  constructor(message: string, options?: { cause?: unknown; timedOut?: boolean }) {
    // No Retry-After honoured: the runner would pause the whole queue, every subscriber's, for one.
    super('subscriber', message, undefined, options);
  }
}

export interface SubscribersClient {
  deliver(delivery: Delivery): Promise<DeliveryResult>;
}

/** The `webhook-signature` value: one signature per secret, space-separated, newest first. */
export function subscriberSignature(
  delivery: Pick<Delivery, 'secret' | 'previousSecret' | 'messageId' | 'body'>,
  timestamp: number,
): string {
  const secrets = [delivery.secret, delivery.previousSecret].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
  return secrets.map((s) => signWebhook(s, delivery.messageId, timestamp, delivery.body)).join(' ');
}

/**
 * Why a request failed, without its URL (node-fetch's message names it, and a URL may carry a
 * client's token in its query): the underlying reason, which names at most the host.
 */
function reasonOf(err: unknown): string {
  const e = err as Error & { code?: string };
  const marker = 'reason: ';
  const at = e.message.indexOf(marker);
  const reason = at >= 0 ? e.message.slice(at + marker.length) : (e.code ?? e.name);
  return e.code && !reason.includes(e.code) ? `${e.code}: ${reason}` : reason;
}

const isTimeout = (e: Error) => e.name === 'TimeoutError' || e.name === 'AbortError';

/** The answer's first bytes, as text Postgres can keep. */
async function excerptOf(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return '';
  // Leaving the loop early destroys the stream: the rest of a long answer is not read.
  for await (const chunk of res.body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    chunks.push(buf);
    size += buf.length;
    if (size >= ANSWER_EXCERPT_BYTES) break;
  }
  return toStorableText(Buffer.concat(chunks).subarray(0, ANSWER_EXCERPT_BYTES).toString('utf8'));
}

export function createSubscribersClient(options: SubscribersOptions): SubscribersClient {
  const { timeoutMs, allowPrivate } = options;
  const lookup = allowPrivate ? undefined : publicOnlyLookup;
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64, lookup });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64, lookup });

  return {
    async deliver(delivery) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      const problem = subscriberUrlProblem(delivery.url, allowPrivate);
      if (problem) {
        return {
          kind: 'unreachable',
          error: new SubscriberUnavailableError(`not sent: ${problem}`),
          latencyMs: 0,
        };
      }
      const timestamp = Math.floor(Date.now() / 1000);
      const signal = AbortSignal.timeout(timeoutMs);
      let res: Response;
      try {
        res = await fetch(delivery.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [WEBHOOK_HEADERS.id]: delivery.messageId,
            [WEBHOOK_HEADERS.timestamp]: String(timestamp),
            [WEBHOOK_HEADERS.signature]: subscriberSignature(delivery, timestamp),
          },
          body: delivery.body,
          redirect: 'manual',
          signal,
          agent: (u: URL) => (u.protocol === 'https:' ? httpsAgent : httpAgent),
        });
      } catch (err) {
        const timedOut = isTimeout(err as Error);
        const message = timedOut
          ? `no answer within ${timeoutMs} ms`
          : `unreachable (${reasonOf(err)})`;
        return {
          kind: 'unreachable',
          // No `cause`: node-fetch's error names the URL, which may carry a client's token, and
          // logs and Bull Board show an error's causes.
          error: new SubscriberUnavailableError(message, { timedOut }),
          latencyMs: elapsed(),
        };
      }
      const latencyMs = elapsed();
      // The status decides; a body that stalls or breaks off only loses its excerpt.
      const excerpt = await excerptOf(res).catch(
        (err: unknown) => `(answer broken off: ${reasonOf(err)})`,
      );
      return { kind: 'answered', status: res.status, excerpt, latencyMs };
    },
  };
}
