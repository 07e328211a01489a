import type http from 'node:http';
import { listen, readJson, type StartedServer } from '../../scripts/peers/http-server.js';

/**
 * A real HTTP server on port 0 playing a peer that answers oddly: each request gets the bytes the
 * test's `answer` gives for it, as they are (an empty body, JSON cut short, HTML labelled JSON),
 * which a peer that serialises its answers (scripts/testkit/recording-peer.ts) cannot send.
 */
export interface RawAnswer {
  status: number;
  text: string;
  /** @defaultValue application/json */
  contentType?: string;
}

export interface AnsweredRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface AnsweringPeer {
  url: string;
  readonly requests: AnsweredRequest[];
  stop(): Promise<void>;
}

export async function startAnsweringPeer(
  answer: (req: AnsweredRequest) => RawAnswer,
): Promise<AnsweringPeer> {
  const requests: AnsweredRequest[] = [];
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { json } = await readJson(req);
    const seen = { method: req.method ?? '', path: req.url ?? '', body: json };
    requests.push(seen);
    const { status, text, contentType = 'application/json' } = answer(seen);
    res.writeHead(status, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const server: StartedServer = await listen((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  return { url: server.url, requests, stop: () => server.stop() };
}
