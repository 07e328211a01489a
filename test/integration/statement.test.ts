import { expect } from 'chai';
import { eq } from 'drizzle-orm';
import { lockInboxRow } from '../../db/inbox.js';
import { lockOrder } from '../../db/order-transitions.js';
import { getOutboxState, markOutboxCompleted } from '../../db/outbox.js';
import { inbox, orders } from '../../db/schema.js';
import { run, statement } from '../../db/statement.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertInboxEvent, insertOrder } from '../support/orders.js';

/**
 * The hot-path statements (db/statement.ts) run on node-postgres directly: they must give what
 * drizzle's builder gave, on the pool, in a transaction, and in a nested transaction (which falls
 * back to drizzle).
 */
describe('prepared hot-path statements', function () {
  let tdb: TestDatabase;

  before(async () => {
    tdb = await createTestDatabase('statement');
  });

  after(async () => {
    await tdb?.drop();
  });

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
});
