import http from 'node:http';
import https from 'node:https';
import fetch, { type Response } from 'node-fetch';
import { PeerRejectedError, PeerUnavailableError } from '../domain/errors.js';

/**
 * The one way this service calls its HTTP peers (Catalog, Payments, Notifications): a bounded
 * timeout, X-API-Key when a token is set, and every failure turned into a typed error that says
 * whether retrying can help (PeerUnavailableError) or not (PeerRejectedError).
 */
export interface PeerClientOptions {
  /** The peer's name, for errors and logs. */
  peer: string;
  timeoutMs: number;
  /** Sent as X-API-Key. Never logged. */
  token?: string;
}

export interface PeerRequest {
  method: 'GET' | 'POST';
  url: string;
  body?: unknown;
  /** Non-2xx statuses the caller handles itself instead of getting an error (e.g. 404). */
  accept?: number[];
  headers?: Record<string, string>;
}

export interface PeerResponse {
  status: number;
  body: unknown;
}

// Keep-alive sockets: a peer call should not pay a TCP handshake every time.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

/** Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // A peer that labels non-JSON as JSON: hand the text on, the caller's contract check names it.
      return text;
    }
  }
  return text;
}

function describe(body: unknown): string {
  if (body === undefined) return 'no body';
  const s = typeof body === 'string' ? body : JSON.stringify(body);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

const isTimeout = (e: Error) => e.name === 'TimeoutError' || e.name === 'AbortError';

export async function callPeer(
  options: PeerClientOptions,
  req: PeerRequest,
): Promise<PeerResponse> {
  const { token } = options;
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers['x-api-key'] = token;
  // A timer cleared once the answer is read, not AbortSignal.timeout: that one fires after every
  // call, answered or not, and builds a DOMException each time (a profile showed it).
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  try {
    return await exchange(options, req, headers, deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function exchange(
  { peer, timeoutMs }: PeerClientOptions,
  req: PeerRequest,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<PeerResponse> {
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal,
      agent: (u: URL) => (u.protocol === 'https:' ? httpsAgent : httpAgent),
    });
  } catch (err) {
    const e = err as Error;
    const timedOut = isTimeout(e);
    throw new PeerUnavailableError(
      peer,
      timedOut ? `no answer within ${timeoutMs} ms` : `unreachable (${e.message})`,
      undefined,
      { cause: err, timedOut },
    );
  }
  const body = await readBody(res).catch((err: unknown) => {
    // The signal bounds the body too: a peer that sends its headers and then stalls times out.
    const timedOut = isTimeout(err as Error);
    throw new PeerUnavailableError(
      peer,
      `answer broken off (${timedOut ? `not finished within ${timeoutMs} ms` : (err as Error).message})`,
      undefined,
      { cause: err, timedOut },
    );
  });
  const { status } = res;
  if ((status >= 200 && status < 300) || req.accept?.includes(status)) return { status, body };
  if (status >= 500 || status === 429 || status === 408) {
    throw new PeerUnavailableError(
      peer,
      `answered ${status}: ${describe(body)}`,
      parseRetryAfter(res.headers.get('retry-after')),
    );
  }
  throw new PeerRejectedError(peer, status, describe(body));
}
