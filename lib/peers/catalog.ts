import Joi from 'joi';
import { ItemNotFoundError, PeerContractError, PeerUnavailableError } from '../domain/errors.js';
import { parseMoney } from '../domain/money.js';
import { canonicalUuid } from '../platform/id-schema.js';
import { retry } from '../platform/retry.js';
import { sameId, usableAnswer } from './answer.js';
import { callPeer, type PeerClientOptions } from './http.js';

export interface CatalogItem {
  id: string;
  name: string;
  /** Exact decimal string, two places at most ("2.50"). */
  price: string;
  availableQty: number;
}

export interface Catalog {
  getItem(itemId: string): Promise<CatalogItem>;
}

export interface CatalogClientOptions {
  baseUrl: string;
  timeoutMs: number;
  token?: string;
  /** Extra tries after a fast transient failure (refused connection, 5xx); never after a timeout. */
  retries?: number;
  /** The first retry's delay (then doubling, jittered, at most 4×). @defaultValue 50 */
  retryDelayMs?: number;
}

// Catalog's contract: {id, name, price: "2.50", available_qty: 10, created_at}; fields it adds
// later are dropped (lib/peers/answer.ts). Strict, so the type and the schema agree.
const itemSchema = Joi.object<
  { id: string; name: string; price: string | number; available_qty: number },
  true
>({
  id: canonicalUuid.required(),
  name: Joi.string().allow('').required(),
  price: Joi.alternatives(Joi.string(), Joi.number()).required(),
  available_qty: Joi.number().integer().min(0).required(),
}).required();

/** Catalog's answer for `itemId`, or PeerContractError when it cannot be used. */
function toItem(itemId: string, body: unknown): CatalogItem {
  const v = usableAnswer('catalog', 'item', itemSchema, body);
  // An answer about another item (a cache or proxy mix-up) would price the order wrongly.
  if (!sameId(v.id, itemId)) {
    throw new PeerContractError('catalog', `answered about item ${v.id}, not ${itemId}`);
  }
  // A numeric price in JSON has already been through a float; accept it only as its exact text.
  const price = String(v.price);
  try {
    parseMoney(price);
  } catch (err) {
    throw new PeerContractError(
      'catalog',
      `item price ${JSON.stringify(price)} is not exact money`,
      { cause: err },
    );
  }
  return { id: itemId, name: v.name, price, availableQty: v.available_qty };
}

export function createCatalogClient({
  baseUrl,
  timeoutMs,
  token,
  retries = 1,
  retryDelayMs = 50,
}: CatalogClientOptions): Catalog {
  const peer: PeerClientOptions = { peer: 'catalog', timeoutMs, token };
  const base = baseUrl.replace(/\/+$/, '');
  // Each delay at most four times the first: the caller (an API request) is waiting.
  const backoff = { minMs: retryDelayMs, maxMs: 4 * retryDelayMs };
  return {
    getItem: (itemId) =>
      retry(
        async () => {
          const res = await callPeer(peer, {
            method: 'GET',
            url: `${base}/${encodeURIComponent(itemId)}`,
            accept: [404],
          });
          if (res.status === 404) throw new ItemNotFoundError(itemId);
          return toItem(itemId, res.body);
        },
        {
          backoff,
          retries,
          // A timeout already spent the caller's budget; only fast failures are worth another try.
          permanent: (err) => !(err instanceof PeerUnavailableError) || err.timedOut,
        },
      ),
  };
}
