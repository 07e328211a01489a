import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on port 0 playing a peer (Payments, Notifications): it records every request
 * and answers from a script, e.g. `[{ status: 500, times: 3 }, { status: 201 }]` ("500 three
 * times, then 201"). The last step repeats forever.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The body's text as sent (a signature covers these exact bytes). */
  raw: string;
  at: number;
  /** What the peer answered it. */
  status: number;
}

export interface PeerReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many requests this step answers. @defaultValue 1 (the last step: every request after) */
  times?: number;
}

export interface RecordingPeer {
  url: string;
  readonly requests: RecordedRequest[];
  /** Replaces the script; counting starts again from its first step. */
  script(replies: PeerReply[]): void;
  /** Stops listening (a connection is refused, as by a host whose server is down). */
  refuseConnections(): Promise<void>;
  /** Listens again on the same port. */
  acceptConnections(): Promise<void>;
  close(): Promise<void>;
}

/** The requests a peer got whose JSON body names the order (`order_id`), in arrival order. */
export function requestsForOrder(peer: RecordingPeer, orderId: string): RecordedRequest[] {
  return peer.requests.filter(
    (r) => (r.body as { order_id?: string } | undefined)?.order_id === orderId,
  );
}

export interface RecordingPeerOptions {
  /**
   * Sees each request as it is recorded, before it is answered: for a check that holds only at
   * arrival (a webhook signature's timestamp must be recent). It must not throw.
   */
  onRequest?: (request: RecordedRequest) => void;
}

export async function startRecordingPeer(
  replies: PeerReply[] = [{ status: 201 }],
  { onRequest }: RecordingPeerOptions = {},
): Promise<RecordingPeer> {
  const requests: RecordedRequest[] = [];
  let steps: PeerReply[] = replies;
  let answered = 0;

  function nextReply(): PeerReply {
    let n = answered++;
    for (const [i, step] of steps.entries()) {
      if (i === steps.length - 1) return step;
      const times = step.times ?? 1;
      if (n < times) return step;
      n -= times;
    }
    return { status: 500, body: { error: 'empty script' } };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text || undefined;
      try {
        body = text ? (JSON.parse(text) as unknown) : undefined;
      } catch {
        // Not JSON: keep the text as the recorded body.
      }
      const reply = nextReply();
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        raw: text,
        at: Date.now(),
        status: reply.status,
      };
      requests.push(recorded);
      onRequest?.(recorded);
      const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        ...(payload ? { 'content-type': 'application/json' } : {}),
        ...reply.headers,
      });
      res.end(payload);
    });
  });
  const listen = (on: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(on, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      server.close((err) => (err ? reject(err) : resolve())),
    );
  };
  await listen(0);
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    script(next) {
      steps = next;
      answered = 0;
    },
    refuseConnections: stopListening,
    async acceptConnections() {
      if (!server.listening) await listen(port);
    },
    close: stopListening,
  };
}
