import { isMain } from '../../lib/platform/main.js';
import { listen, sendJson, type StartedServer } from './http-server.js';

/**
 * Development Catalog: a real HTTP server playing the Catalog service's contract
 * (`GET {base}/{item_id}` → `{id, name, price, available_qty, created_at}`, 404 when unknown).
 * Any path ending in an item id is served, so CATALOG_SERVICE_API_URL may carry a base path.
 * `GET /` lists the items. For tests it can be told to fail or to be slow.
 */
export interface CatalogItemFixture {
  id: string;
  name: string;
  price: string;
  available_qty: number;
  created_at: string;
}

export const DEMO_ITEMS: CatalogItemFixture[] = [
  {
    id: '0b7f5c2e-3c4f-4a57-9a8e-1f2d3c4b5a61',
    name: 'Coffee mug',
    price: '12.50',
    available_qty: 1000,
    created_at: '2026-01-01T00:00:00Z',
  },
  {
    id: '5d1e4c3b-2a19-4f08-8e7d-6c5b4a392817',
    name: 'Sticker',
    price: '0.10',
    available_qty: 100000,
    created_at: '2026-01-01T00:00:00Z',
  },
  {
    id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    name: 'Signed print (limited)',
    price: '49.99',
    available_qty: 2,
    created_at: '2026-01-01T00:00:00Z',
  },
  {
    id: 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f',
    name: 'Mechanical keyboard',
    price: '19.99',
    available_qty: 1000000,
    created_at: '2026-01-01T00:00:00Z',
  },
];

export interface CatalogFault {
  /** Answer this status instead of the item. */
  status?: number;
  /** Wait this long before answering. */
  delayMs?: number;
}

export interface CatalogPeer extends StartedServer {
  items: Map<string, CatalogItemFixture>;
  /** How many item look-ups it served (faults included). */
  requests: number;
  /** The X-API-Key of the last request, so tests can check it is sent. */
  lastApiKey: string | undefined;
  setFault(fault: CatalogFault | undefined): void;
}

const ITEM_ID = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?$/i;

export async function startCatalogPeer({
  port = 0,
  items = DEMO_ITEMS,
}: { port?: number; items?: CatalogItemFixture[] } = {}): Promise<CatalogPeer> {
  const byId = new Map(items.map((i) => [i.id.toLowerCase(), { ...i }]));
  let fault: CatalogFault | undefined;
  const state = { requests: 0, lastApiKey: undefined as string | undefined };
  const server = await listen((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET') return sendJson(res, 405, { detail: 'method not allowed' });
    if (path === '/' || path === '') return sendJson(res, 200, [...byId.values()]);
    const m = ITEM_ID.exec(path);
    if (!m) return sendJson(res, 404, { detail: 'not found' });
    state.requests++;
    state.lastApiKey = req.headers['x-api-key'] as string | undefined;
    const answer = () => {
      if (fault?.status) return sendJson(res, fault.status, { detail: 'catalog fault (test)' });
      const item = byId.get(m[1]!.toLowerCase());
      if (!item) return sendJson(res, 404, { detail: 'item not found' });
      sendJson(res, 200, item);
    };
    if (fault?.delayMs) setTimeout(answer, fault.delayMs);
    else answer();
  }, port);
  return {
    ...server,
    items: byId,
    get requests() {
      return state.requests;
    },
    get lastApiKey() {
      return state.lastApiKey;
    },
    setFault(f) {
      fault = f;
    },
  };
}

if (isMain(import.meta.url)) {
  const port = Number(process.env.CATALOG_PORT ?? 8001);
  startCatalogPeer({ port }).then((peer) => {
    console.log(`development Catalog on ${peer.url} (GET / lists the items)`);
    const stop = () => void peer.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
