/**
 * The load generator's HTTP: `POST /api/v1/orders` over keep-alive sockets (as a client or a load
 * balancer in front of the service would hold them), timing each request with sub-millisecond
 * wall-clock stamps.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { CreateOrderRequest } from '../../api/schemas.js';
import { DEMO_ITEMS } from '../peers/catalog.js';
import { epochMs } from './stats.js';

// The development Catalog's cheap item with stock to spare. Its price (12.50) times a quantity of
// 1–3 never ends in .13 and the quantity is never 13, so the development Payments and Shipping
// peers' failure rules never fire: every order should end `shipped`.
const ITEM = DEMO_ITEMS[0]!;

/** The API's own request type, so a field the API adds shows up here as a compile error. */
export type OrderRequest = CreateOrderRequest;

export function newOrderRequest(i: number): OrderRequest {
  return {
    item_id: ITEM.id,
    quantity: 1 + (i % 3),
    user_id: `bench-user-${i % 1000}`,
    idempotency_key: randomUUID(),
  };
}

export interface PostResult {
  status: number;
  /** The created order's id (201 and 200 answers). */
  orderId?: string;
  /** Epoch ms, sub-millisecond: just before the request was written, and when the answer ended. */
  sentAt: number;
  doneAt: number;
  error?: string;
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** Never rejects: a failed request is a result with status 0 and the reason. */
export function postOrder(
  agent: http.Agent,
  apiUrl: string,
  order: OrderRequest,
  timeoutMs = 10_000,
): Promise<PostResult> {
  const body = JSON.stringify(order);
  return new Promise((resolve) => {
    const sentAt = epochMs();
    const fail = (err: Error) =>
      resolve({ status: 0, sentAt, doneAt: epochMs(), error: err.message });
    const req = http.request(`${apiUrl}/api/v1/orders`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', fail);
      res.once('end', () => {
        const doneAt = epochMs();
        let orderId: string | undefined;
        try {
          orderId = (
            JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: { id?: string } }
          ).data?.id;
        } catch {
          // A non-JSON answer keeps its status; it has no order id.
        }
        resolve({ status: res.statusCode ?? 0, orderId, sentAt, doneAt });
      });
    });
    req.once('error', fail);
    req.end(body);
  });
}
