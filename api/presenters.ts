import { isCanonicalUuid } from '../lib/domain/ids.js';

/** One source for the order's shape, shared with the webhooks' payloads. */
export { orderJson } from '../lib/orders/order-view.js';

/** Cursors are opaque to clients; inside, the last order id of the page (ids sort by creation). */
export const encodeCursor = (lastId: string): string =>
  Buffer.from(lastId, 'utf8').toString('base64url');

/** The order id inside a cursor, taken in by the one rule for ids (lib/domain/ids.ts). */
export function decodeCursor(cursor: string): string | undefined {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return isCanonicalUuid(id) ? id : undefined;
}
