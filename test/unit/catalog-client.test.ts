import { expect } from 'chai';
import { createCatalogClient } from '../../lib/peers/catalog.js';
import {
  ItemNotFoundError,
  PeerContractError,
  PeerUnavailableError,
} from '../../lib/domain/errors.js';
import { listen, sendJson, type StartedServer } from '../../scripts/peers/http-server.js';

const ITEM = '5b0e2a3c-1d4f-4a6b-9c8d-7e6f5a4b3c2d';

describe('catalog client (against a real HTTP server)', () => {
  let server: StartedServer;
  let script:
    ((n: number) => { status: number; body?: unknown; raw?: string; delayMs?: number }) | undefined;
  let calls = 0;
  let lastHeaders: Record<string, unknown> = {};

  before(async () => {
    server = await listen((req, res) => {
      const n = calls++;
      lastHeaders = req.headers;
      const step = script!(n);
      setTimeout(() => {
        if (step.raw === undefined) return sendJson(res, step.status, step.body ?? {});
        // Bytes as given, labelled JSON: an empty or broken body.
        res.writeHead(step.status, { 'content-type': 'application/json' });
        res.end(step.raw);
      }, step.delayMs ?? 0);
    });
  });
  beforeEach(() => {
    calls = 0;
  });
  after(() => server.stop());

  const item = {
    id: ITEM,
    name: 'Mug',
    price: '2.50',
    available_qty: 3,
    created_at: '2026-01-01T00:00:00Z',
  };
  const client = (extra = {}) =>
    createCatalogClient({
      baseUrl: `${server.url}/api/`,
      timeoutMs: 200,
      retryDelayMs: 1,
      ...extra,
    });

  it('when the item exists, then it is returned with the exact price and the token is sent', async () => {
    script = () => ({ status: 200, body: item });
    const got = await client({ token: 'tok' }).getItem(ITEM);
    expect(got).to.deep.equal({ id: ITEM, name: 'Mug', price: '2.50', availableQty: 3 });
    expect(lastHeaders['x-api-key']).to.equal('tok');
  });

  it('when Catalog answers 404, then ItemNotFoundError and no retry', async () => {
    script = () => ({ status: 404 });
    const err = await client()
      .getItem('5b0e2a3c-0000-4000-8000-00000000000f')
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ItemNotFoundError);
    expect(calls).to.equal(1);
  });

  it('when Catalog answers 500 once, then the retry gets the item', async () => {
    script = (n) => (n === 0 ? { status: 500 } : { status: 200, body: item });
    expect((await client().getItem(ITEM)).price).to.equal('2.50');
    expect(calls).to.equal(2);
  });

  it('when Catalog keeps answering 503 with Retry-After, then PeerUnavailableError after the bounded retries', async () => {
    script = () => ({ status: 503 });
    const err = await client({ retries: 2 })
      .getItem(ITEM)
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerUnavailableError);
    expect(calls).to.equal(3);
  });

  it('when Catalog is slower than the timeout, then PeerUnavailableError (timed out) without a retry', async () => {
    script = () => ({ status: 200, body: item, delayMs: 500 });
    const err = (await client()
      .getItem(ITEM)
      .catch((e: unknown) => e)) as PeerUnavailableError;
    expect(err).to.be.instanceOf(PeerUnavailableError);
    expect(err.timedOut).to.equal(true);
    expect(calls).to.equal(1);
  });

  it('when the price is not exact money, then PeerContractError', async () => {
    script = () => ({ status: 200, body: { ...item, price: '2.505' } });
    expect(
      await client()
        .getItem(ITEM)
        .catch((e: unknown) => e),
    ).to.be.instanceOf(PeerContractError);
  });

  it('when Catalog answers 200 with an empty body, then PeerContractError, not a TypeError', async () => {
    script = () => ({ status: 200, raw: '' });
    const err = await client()
      .getItem(ITEM)
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerContractError);
    expect((err as Error).message).to.match(/^catalog: item unusable/);
    expect(calls).to.equal(1);
  });

  it('when Catalog answers about another item, then PeerContractError naming both ids', async () => {
    const other = '00000000-0000-4000-8000-000000000001';
    script = () => ({ status: 200, body: { ...item, id: other, price: '0.01' } });
    const err = await client()
      .getItem(ITEM)
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerContractError);
    expect((err as Error).message).to.include(`item ${other}, not ${ITEM}`);
  });

  it('when Catalog spells the asked id in upper case, then it is the same item', async () => {
    script = () => ({ status: 200, body: { ...item, id: ITEM.toUpperCase() } });
    expect((await client().getItem(ITEM)).id).to.equal(ITEM);
  });

  it('when the item name holds NUL, then PeerContractError (Postgres could not store it)', async () => {
    script = () => ({ status: 200, body: { ...item, name: 'Mu\u0000g' } });
    expect(
      await client()
        .getItem(ITEM)
        .catch((e: unknown) => e),
    ).to.be.instanceOf(PeerContractError);
  });

  it('when nothing listens, then PeerUnavailableError', async () => {
    const c = createCatalogClient({
      baseUrl: 'http://127.0.0.1:1',
      timeoutMs: 200,
      retryDelayMs: 1,
    });
    expect(await c.getItem(ITEM).catch((e: unknown) => e)).to.be.instanceOf(PeerUnavailableError);
  });
});
