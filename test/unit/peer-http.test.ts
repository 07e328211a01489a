import { expect } from 'chai';
import type { ServerResponse } from 'node:http';
import { PeerUnavailableError } from '../../lib/domain/errors.js';
import { callPeer } from '../../lib/peers/http.js';
import { listen, type StartedServer } from '../../scripts/peers/http-server.js';

/**
 * lib/peers/http.ts (node-fetch): the cases a peer can break an exchange in, against a real HTTP
 * server on loopback.
 */
describe('peer HTTP client (against a real HTTP server)', () => {
  let server: StartedServer;
  let behave: (res: ServerResponse, body: string) => void = () => undefined;
  let received: { method?: string; headers: Record<string, unknown>; body: string }[] = [];

  before(async () => {
    server = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ method: req.method, headers: req.headers, body });
        behave(res, body);
      });
    });
  });
  beforeEach(() => {
    received = [];
  });
  after(() => server.stop());

  const options = { peer: 'test-peer', timeoutMs: 300, token: 'secret-token' };

  it('when a JSON body is posted, then the peer gets it whole with its length, type and key, and its JSON answer comes back parsed', async () => {
    behave = (res, body) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echoed: JSON.parse(body) as unknown }));
    };
    const sent = { message: 'héllo ✓', n: 3 };
    const answer = await callPeer(options, { method: 'POST', url: `${server.url}/x`, body: sent });
    expect(answer).to.deep.equal({ status: 201, body: { echoed: sent } });
    expect(received).to.have.length(1);
    expect(received[0]!.headers['content-type']).to.equal('application/json');
    expect(received[0]!.headers['content-length']).to.equal(
      String(Buffer.byteLength(JSON.stringify(sent))),
    );
    expect(received[0]!.headers['x-api-key']).to.equal('secret-token');
  });

  it('when the peer sends its headers and then stalls, then the timeout still ends the call as timed out', async () => {
    behave = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      // …and never ends it.
    };
    const started = Date.now();
    const err = (await callPeer(options, { method: 'GET', url: `${server.url}/x` }).catch(
      (e: unknown) => e,
    )) as PeerUnavailableError;
    expect(err).to.be.instanceOf(PeerUnavailableError);
    expect(err.timedOut).to.equal(true);
    expect(err.message).to.include('answer broken off');
    expect(Date.now() - started).to.be.below(3000);
  });

  it('when the peer drops the connection mid-answer, then PeerUnavailableError (retriable), not timed out', async () => {
    behave = (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":', () => res.socket?.destroy());
    };
    const err = (await callPeer(options, { method: 'GET', url: `${server.url}/x` }).catch(
      (e: unknown) => e,
    )) as PeerUnavailableError;
    expect(err).to.be.instanceOf(PeerUnavailableError);
    expect(err.timedOut).to.equal(false);
    expect(err.retriable).to.equal(true);
  });

  it('when a 503 names a Retry-After, then PeerUnavailableError carries it', async () => {
    behave = (res) => {
      res.writeHead(503, { 'retry-after': '7', 'content-type': 'text/plain' });
      res.end('busy');
    };
    const err = (await callPeer(options, { method: 'GET', url: `${server.url}/x` }).catch(
      (e: unknown) => e,
    )) as PeerUnavailableError;
    expect(err.retryAfterSeconds).to.equal(7);
    expect(err.message).to.include('busy');
  });
});
