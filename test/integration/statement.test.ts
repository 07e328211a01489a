import { expect } from 'chai';
import { eq } from 'drizzle-orm';
import { createDatabase, transactionOpenedWith, type Database } from '../../db/client.js';
import { lockInboxRow } from '../../db/inbox.js';
import { lockOrder } from '../../db/order-transitions.js';
import { getOutboxState, markOutboxCompleted } from '../../db/outbox/rows.js';
import { inbox, orders } from '../../db/schema.js';
import { run, statement } from '../../db/statement.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase } from '../../scripts/testkit/database.js';
import { startedForSuite } from '../support/suite.js';
import { insertInboxEvent, insertOrder } from '../support/orders.js';

/**
 * The hot-path statements (db/statement.ts) run on node-postgres directly: they must give what
 * drizzle's builder gave, on the pool, in a transaction, and in a nested transaction (which falls
 * back to drizzle).
 */
describe('prepared hot-path statements', function () {
  const tdb = startedForSuite(
    () => createTestDatabase('statement'),
    (d) => d.drop(),
  );

  it('when an order and an inbox row are locked by statement, then the rows equal what drizzle selects, types included', async () => {
    const order = await insertOrder(tdb.db, { quantity: 2 });
    const { inboxRow } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
    });
    const [viaDrizzle] = await tdb.db.select().from(orders).where(eq(orders.id, order.id));
    const [inboxViaDrizzle] = await tdb.db.select().from(inbox).where(eq(inbox.id, inboxRow.id));
    const locked = await tdb.db.transaction(async (tx) => ({
      order: await lockOrder(tx, order.id),
      inbox: await lockInboxRow(tx, inboxRow.id),
    }));
    expect(locked.order).to.deep.equal(viaDrizzle);
    expect(locked.order!.createdAt).to.be.instanceOf(Date);
    expect(locked.inbox).to.deep.equal(inboxViaDrizzle);
    // The nested transaction (a savepoint) is a handle db/client.ts did not make: drizzle runs it.
    const nested = await tdb.db.transaction((tx) =>
      tx.transaction(async (inner) => ({
        order: await lockOrder(inner, order.id),
        inbox: await lockInboxRow(inner, inboxRow.id),
      })),
    );
    expect(nested).to.deep.equal(locked);
  });

  it('when a statement writes in a transaction that rolls back, then nothing is written', async () => {
    const order = await insertOrder(tdb.db, { quantity: 1 });
    const { outboxRef } = await insertInboxEvent(tdb.db, {
      orderId: order.id,
      eventType: 'payment.succeeded',
    });
    const rollback = new Error('rolled back on purpose');
    const attempt = tdb.db.transaction(async (tx) => {
      expect(await markOutboxCompleted(tx, outboxRef)).to.equal(true);
      throw rollback;
    });
    const thrown = await attempt.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(thrown).to.equal(rollback);
    expect((await getOutboxState(tdb.db, outboxRef.id))?.completed).to.equal(false);
    expect(await markOutboxCompleted(tdb.db, outboxRef)).to.equal(true);
    expect((await getOutboxState(tdb.db, outboxRef.id))?.completed).to.equal(true);
  });

  it('when one statement runs on many pooled connections, then each prepares it and all agree', async () => {
    const square = statement<{ n: number }>('test_square', 'select ($1::int * $1::int) as n');
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        tdb.db.transaction(async (tx) => (await run(tx, square, [i]))[0]!.n),
      ),
    );
    expect(results).to.deep.equal(Array.from({ length: 25 }, (_, i) => i * i));
  });

  describe('a transaction opened with its first statement', () => {
    // One connection: a client left in a broken or open transaction would show at once.
    let single: Database;
    before(() => {
      single = createDatabase({ url: tdb.url, max: 1, logger: silentLogger() });
    });
    after(() => single?.close());

    it('when its work throws, then the first statement and the work are rolled back, and the connection serves the next one', async () => {
      const order = await insertOrder(tdb.db, { quantity: 1 });
      const failure = new Error('work failed on purpose');
      const thrown = await transactionOpenedWith(
        single.db,
        `update orders set quantity = 7 where id = '${order.id}' returning quantity`,
        async (rows: { quantity: number }[], tx) => {
          expect(rows).to.deep.equal([{ quantity: 7 }]);
          await tx.update(orders).set({ quantity: 8 }).where(eq(orders.id, order.id));
          throw failure;
        },
      ).catch((err: unknown) => err);
      expect(thrown).to.equal(failure);
      const [row] = await single.db.select().from(orders).where(eq(orders.id, order.id));
      expect(row!.quantity).to.equal(1);
      const committed = await transactionOpenedWith(
        single.db,
        `update orders set quantity = 5 where id = '${order.id}' returning quantity`,
        async (rows: { quantity: number }[]) => rows[0]!.quantity,
      );
      expect(committed).to.equal(5);
      const [after] = await single.db.select().from(orders).where(eq(orders.id, order.id));
      expect(after!.quantity).to.equal(5);
    });

    it('when the first statement fails, then the error comes back and the connection is not left in a failed transaction', async () => {
      const thrown = await transactionOpenedWith(
        single.db,
        'select 1 / 0 as boom',
        async () => 'not reached',
      ).catch((err: unknown) => err);
      expect((thrown as Error).message).to.match(/division by zero/);
      const [{ ok }] = (await single.pool.query('select 1 as ok')).rows as [{ ok: number }];
      expect(ok).to.equal(1);
    });
  });
});
