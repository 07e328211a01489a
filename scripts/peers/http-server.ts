import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type Joi from 'joi';
import { ConfigError } from '../../lib/platform/config.js';
import type { Logger } from '../../lib/platform/logger.js';

/** Small helpers the development peers share: their HTTP servers, outgoing calls, waiting. */
export interface StartedServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** Starts a node http server on 127.0.0.1 (port 0: a free one) for a development peer. */
export async function listen(handler: http.RequestListener, port = 0): Promise<StartedServer> {
  const server = http.createServer(handler);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * A POST's body as `schema` takes it; or, when it refuses it, undefined, after answering 400 with
 * every reason joi gives and counting it in `counts.invalid`.
 */
export function validBody<T>(
  res: http.ServerResponse,
  schema: Joi.Schema,
  json: unknown,
  counts: { invalid: number },
): T | undefined {
  const { error, value } = schema.validate(json, { abortEarly: false });
  if (!error) return value as T;
  counts.invalid++;
  sendJson(res, 400, { detail: error.details.map((d) => d.message) });
  return undefined;
}

export async function readJson(req: http.IncomingMessage): Promise<{ raw: string; json: unknown }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return { raw, json: undefined };
  try {
    return { raw, json: JSON.parse(raw) as unknown };
  } catch {
    // The caller decides what a non-JSON body means; the raw text is kept.
    return { raw, json: undefined };
  }
}

/** The request's path (without the query) and its query parameters. */
export function requestTarget(req: http.IncomingMessage): { path: string; query: URLSearchParams } {
  const target = new URL(req.url ?? '/', 'http://peer.invalid');
  return { path: target.pathname.replace(/\/+$/, '') || '/', query: target.searchParams };
}

/** Keep-alive agents for a peer's outgoing calls; `destroy()` on stop so no socket outlives it. */
export interface OutgoingAgents {
  http: http.Agent;
  https: https.Agent;
  destroy(): void;
}

export function keepAliveAgents(): OutgoingAgents {
  // Idle sockets are dropped after 4 s, before Node servers' 5 s keepAliveTimeout closes them
  // under a request that is just reusing one (which would then fail with ECONNRESET).
  const options = { keepAlive: true, maxSockets: 256, timeout: 4000 };
  const agents = { http: new http.Agent(options), https: new https.Agent(options) };
  return {
    ...agents,
    destroy() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/**
 * POSTs a JSON text and resolves with the answer's status, whatever it is; rejects only when no
 * answer came (refused, reset, timed out). The answer's body is drained so the socket is reused.
 */
export function postJson(
  url: string,
  body: string,
  {
    agents,
    headers = {},
    timeoutMs,
  }: { agents: OutgoingAgents; headers?: Record<string, string>; timeoutMs: number },
): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const req = (secure ? https : http).request(target, {
      method: 'POST',
      agent: secure ? agents.https : agents.http,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
      signal: AbortSignal.timeout(timeoutMs),
    });
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * Lets tests and the benchmark wait for a peer to have recorded something, without polling:
 * the peer calls `changed()` after each record and waiters re-check their condition then.
 */
export interface ChangeWaiters {
  changed(): void;
  /** Resolves once `check()` is true; rejects after `timeoutMs` naming `what`. */
  until(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Rejects every pending wait (the peer is stopping). */
  cancel(reason: string): void;
}

export function changeWaiters(): ChangeWaiters {
  const waiters = new Set<{ check: () => boolean; done: (err?: Error) => void }>();
  return {
    changed() {
      for (const w of waiters) if (w.check()) w.done();
    },
    until(check, timeoutMs = 10_000, what = 'condition') {
      if (check()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          check,
          done: (err?: Error) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            if (err) reject(err);
            else resolve();
          },
        };
        const timer = setTimeout(
          () => waiter.done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
          timeoutMs,
        );
        waiters.add(waiter);
      });
    },
    cancel(reason) {
      for (const w of waiters) w.done(new Error(reason));
    },
  };
}

/** Timers a peer cancels all at once when it stops, so nothing fires after `stop()`. */
export interface TimerSet {
  /** Runs `fn` after `ms`; does nothing once the set is closed. */
  after(ms: number, fn: () => void): void;
  /** Cancels every pending timer and refuses new ones. */
  close(): void;
}

export function timerSet(): TimerSet {
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  return {
    after(ms, fn) {
      if (closed) return;
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

/** A bad environment variable for a peer: `main` prints its message alone, no stack. */
export class PeerConfigError extends Error {
  override name = 'PeerConfigError';
}

/** A whole number from the environment, or the fallback when unset; a bad value throws, named. */
export function envInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  const text = env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PeerConfigError(
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** One of `choices` from the environment, or the fallback when unset; anything else throws. */
export function envChoice<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const text = env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = text.trim().toLowerCase() as T;
  if (!choices.includes(value)) {
    throw new PeerConfigError(
      `${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/**
 * A peer script's `main`: starts it, prints `describe(peer)`, stops it on SIGINT or SIGTERM and
 * exits 0, or exits 1 when starting or stopping fails.
 */
export function runUntilSignal<P extends { stop(): Promise<void> }>(
  name: string,
  start: () => Promise<P>,
  describe: (peer: P) => string,
): void {
  const fail = (what: string) => (err: unknown) => {
    console.error(
      `${name} ${what}:`,
      err instanceof PeerConfigError || err instanceof ConfigError ? err.message : err,
    );
    process.exit(1);
  };
  // Inside the promise chain, so a bad environment read by `start` exits 1 with its message.
  Promise.resolve()
    .then(start)
    .then((peer) => {
      console.log(describe(peer));
      const stop = () => void peer.stop().then(() => process.exit(0), fail('did not stop cleanly'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }, fail('failed to start'));
}

/**
 * A development peer told to misbehave (tests): answer POSTs with `status`, or after `delayMs`.
 * A delay longer than the caller's timeout is a timeout; the request is still handled after it
 * (unless `status` says otherwise), as a slow real peer would, so the caller's retry is a
 * duplicate delivery.
 */
export interface PeerFault {
  status?: number;
  delayMs?: number;
  /** Headers of the fault's answer, e.g. a 429's `Retry-After`. */
  headers?: Record<string, string>;
  /** Only POSTs whose JSON body this accepts meet the fault; the others are served as usual. */
  matches?(body: unknown): boolean;
  /** The fault lifts by itself this long after it was set (an outage of known length). */
  forMs?: number;
}

export interface JsonPeerOptions {
  /** The peer's name, for its fault answers and error log. */
  name: string;
  /** GET paths that list what it recorded (`?order_id=` filters). */
  listPaths: string[];
  port: number;
  logger: Logger;
  list(orderId: string | undefined): unknown;
  /**
   * Handles one POST body (any path; `path` is it, without the query) and answers it. `request`
   * carries the exact text and the headers, for a peer that verifies a signature over them.
   */
  accept(
    res: http.ServerResponse,
    body: unknown,
    path: string,
    request: { raw: string; headers: http.IncomingHttpHeaders },
  ): void;
  /**
   * Answers a GET of any other path than the listings (it meets the fault as a POST does);
   * without it such a GET is 405.
   */
  get?(res: http.ServerResponse, path: string): void;
  /** Called when handling a request failed (the peer counts it). */
  onError(): void;
}

export interface JsonPeer {
  server: StartedServer;
  /** The X-API-Key of the last POST, so tests can check it is sent. */
  lastApiKey(): string | undefined;
  /** Replaces the fault (undefined: none). */
  setFault(fault: PeerFault | undefined): void;
  /** POSTs that met a fault (delayed or answered by it), since the peer started. */
  faulted(): number;
}

/**
 * What a recording JSON peer (Payments, Notifications) shows its tests and the benchmark: what it
 * recorded (`R`), waits on it, the API key it was last sent and its fault switch.
 */
export interface RecordingJsonPeer<R> extends StartedServer {
  /** What it recorded, optionally for one order; a copy. */
  recorded(filter?: { order_id?: string }): R;
  /** Resolves once `check()` holds, re-checked after each thing the peer records. */
  until(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** The X-API-Key of the last POST, so tests can check it is sent. */
  readonly lastApiKey: string | undefined;
  setFault(fault: PeerFault | undefined): void;
  /** Requests that met a fault since the peer started. */
  readonly faulted: number;
}

/**
 * A recording peer's face from its parts: the started JSON peer, its waiters and its `recorded`,
 * with `own` (its `stop`, and anything else it offers) laid over them.
 */
export function recordingJsonPeer<R, O extends { stop(): Promise<void> }>(
  peer: JsonPeer,
  waiters: ChangeWaiters,
  recorded: (filter?: { order_id?: string }) => R,
  own: O,
): RecordingJsonPeer<R> & O {
  const face = {
    ...peer.server,
    recorded,
    until: waiters.until,
    get lastApiKey() {
      return peer.lastApiKey();
    },
    setFault: peer.setFault,
    get faulted() {
      return peer.faulted();
    },
  };
  // Object.assign keeps the getters above live; a spread would copy their values of now.
  return Object.assign(face, own);
}

/**
 * The skeleton the HTTP development peers share: a listing of what they recorded, POSTs of JSON
 * to any path (their service URLs may carry a base path), a fault switch for tests, and a 500
 * (counted and logged) when handling fails.
 */
export async function startJsonPeer(options: JsonPeerOptions): Promise<JsonPeer> {
  let fault: { spec: PeerFault; until: number } | undefined;
  let lastApiKey: string | undefined;
  let faulted = 0;
  /** The fault this request meets, if any. */
  function faultFor(body: unknown): PeerFault | undefined {
    if (!fault) return undefined;
    if (Date.now() >= fault.until) {
      fault = undefined;
      return undefined;
    }
    const { spec } = fault;
    return !spec.matches || spec.matches(body) ? spec : undefined;
  }
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { path, query } = requestTarget(req);
    if (req.method === 'GET' && options.listPaths.includes(path)) {
      return sendJson(res, 200, options.list(query.get('order_id') ?? undefined));
    }
    const get = req.method === 'GET' ? options.get : undefined;
    if (!get && req.method !== 'POST') return sendJson(res, 405, { detail: 'method not allowed' });
    if (!get) lastApiKey = req.headers['x-api-key'] as string | undefined;
    // A GET has no body: it meets a fault that names no bodies (a peer down is down for both).
    const { raw, json } = get ? { raw: '', json: undefined } : await readJson(req);
    const current = faultFor(json);
    if (current && (current.delayMs || current.status)) faulted++;
    if (current?.delayMs) await new Promise((r) => setTimeout(r, current.delayMs));
    if (current?.status) {
      return sendJson(
        res,
        current.status,
        { detail: `${options.name} fault (test)` },
        current.headers,
      );
    }
    if (get) return get(res, path);
    options.accept(res, json, path, { raw, headers: req.headers });
  }
  const server = await listen((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.onError();
      options.logger.error({ err, url: req.url }, `${options.name} peer failed a request`);
      if (!res.headersSent) sendJson(res, 500, { detail: `${options.name} peer error` });
      else res.destroy();
    });
  }, options.port);
  return {
    server,
    lastApiKey: () => lastApiKey,
    setFault(f) {
      fault = f && { spec: f, until: f.forMs === undefined ? Infinity : Date.now() + f.forMs };
    },
    faulted: () => faulted,
  };
}
