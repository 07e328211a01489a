import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

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

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
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
