import { Router } from 'express';
import type { Db } from '../../db/client.js';
import { findOrderWithHistory, listOrdersByUser } from '../../db/orders.js';
import type { Catalog } from '../../lib/peers/catalog.js';
import { cancelOrder } from '../../lib/orders/cancel-order.js';
import { createOrder } from '../../lib/orders/create-order.js';
import { NotFoundError, ValidationError } from '../../lib/domain/errors.js';
import { send } from '../envelope.js';
import { decodeCursor, encodeCursor, orderJson } from '../presenters.js';
import { cancelOrderBody, createOrderBody, listOrdersQuery, orderIdParams } from '../schemas.js';
import { validate } from '../validate.js';

export interface OrdersRouteDeps {
  db: Db;
  catalog: Catalog;
}

export function ordersRouter(deps: OrdersRouteDeps): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = validate(createOrderBody, req.body);
    const { order, created } = await createOrder(deps, {
      itemId: body.item_id,
      quantity: body.quantity,
      userId: body.user_id,
      idempotencyKey: body.idempotency_key,
    });
    res.locals.log?.info(
      { order_id: order.id, created },
      created ? 'order created' : 'order replayed',
    );
    // A new order's history is its one creation row. A replay's order may have moved on since it
    // was found: it and its history are read again, together.
    const shown = created
      ? {
          order,
          history: [
            {
              status: order.status,
              refundStatus: null,
              reason: 'order created',
              createdAt: order.createdAt,
            },
          ],
        }
      : ((await findOrderWithHistory(deps.db, order.id)) ?? { order, history: [] });
    send(res, created ? 201 : 200, orderJson(shown.order, shown.history), { replayed: !created });
  });

  router.get('/:id', async (req, res) => {
    const { id } = validate(orderIdParams, req.params);
    const found = await findOrderWithHistory(deps.db, id);
    if (!found) throw new NotFoundError(`order ${id} does not exist`, 'id');
    send(res, 200, orderJson(found.order, found.history));
  });

  router.post('/:id/cancel', async (req, res) => {
    const { id } = validate(orderIdParams, req.params);
    const body = validate(cancelOrderBody, req.body);
    const { order, changed } = await cancelOrder(deps.db, {
      orderId: id,
      userId: body.user_id,
      reason: body.reason,
    });
    res.locals.log?.info(
      { order_id: order.id, status: order.status, changed },
      changed ? 'order cancellation taken' : 'order cancellation repeated',
    );
    // The order and its history as of one moment, which may be past the cancellation's own.
    const shown = (await findOrderWithHistory(deps.db, order.id)) ?? { order, history: [] };
    // 202 while Shipping has yet to answer (the order is still paid); 200 once it is cancelled.
    const pending = shown.order.status !== 'cancelled';
    send(res, pending ? 202 : 200, orderJson(shown.order, shown.history), {
      replayed: !changed,
    });
  });

  router.get('/', async (req, res) => {
    const q = validate(listOrdersQuery, req.query, { convert: true });
    let beforeId: string | undefined;
    if (q.cursor !== undefined) {
      beforeId = decodeCursor(q.cursor);
      if (!beforeId)
        throw new ValidationError([
          { field: 'cursor', message: 'cursor is not one this API gave out' },
        ]);
    }
    // One extra row tells whether another page exists without a count query.
    const rows = await listOrdersByUser(deps.db, q.user_id, q.limit + 1, beforeId);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > q.limit && last ? encodeCursor(last.id) : null;
    send(
      res,
      200,
      page.map((o) => orderJson(o)),
      { limit: q.limit, next_cursor: nextCursor },
    );
  });

  return router;
}
