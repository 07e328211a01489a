import { expect } from 'chai';
import { asc, eq, ne } from 'drizzle-orm';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createDatabase, type Database } from '../../db/client.js';
import { orders, outbox } from '../../db/schema.js';
import { effectKey } from '../../lib/domain/effect-keys.js';
import { applyInboxEvent } from '../../lib/orders/apply-inbox-event.js';
import { cancelOrder } from '../../lib/orders/cancel-order.js';
import { createOrder } from '../../lib/orders/create-order.js';
import { createCatalogClient } from '../../lib/peers/catalog.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { startCatalogPeer, type CatalogPeer } from '../../scripts/peers/catalog.js';
import { postgresBin } from '../faults/support/postgres.js';
import {
  ADMIN_URL,
  createTestDatabase,
  databaseUrl,
  type TestDatabase,
} from '../../scripts/testkit/database.js';
import { STICKER } from '../support/factories.js';
import { insertInboxEvent } from '../support/orders.js';

const run = promisify(execFile);

/** What a backup taken now gives back when restored: the database as it is at this moment. */
async function backup(tdb: TestDatabase, dir: string): Promise<() => Promise<RestoredDatabase>> {
  const file = path.join(dir, `${tdb.name}.dump`);
  await run(path.join(postgresBin(), 'pg_dump'), ['-Fc', '-f', file, '-d', tdb.url]);
  return async () => {
    const name = `${tdb.name}_restored`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`).finally(() => admin.end());
    const url = databaseUrl(name);
    await run(path.join(postgresBin(), 'pg_restore'), ['--no-owner', '-d', url, file]);
    const database = createDatabase({ url, max: 5, logger: silentLogger() });
    return {
      ...database,
      async drop() {
        await database.close();
        const c = new pg.Client({ connectionString: ADMIN_URL });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => c.end());
      },
    };
  };
}

interface RestoredDatabase extends Database {
  drop(): Promise<void>;
}

/** An order's effects: each outbox row but the inbox's, as queue/event and its key. */
async function effectsOf(database: Database, orderId: string) {
  const rows = await database.db
    .select({ queue: outbox.queue, event: outbox.eventType, key: outbox.idempotencyKey })
    .from(outbox)
    .where(eq(outbox.orderId, orderId))
    .orderBy(asc(outbox.id));
  const [order] = await database.db.select().from(orders).where(eq(orders.id, orderId));
  return {
    rows: rows.filter((r) => r.queue !== 'inbox'),
    refundKey: order!.refundIdempotencyKey,
    status: order!.status,
  };
}

describe('effect keys when a restored database applies its events again', function () {
  this.timeout(60_000);
  let tdb: TestDatabase;
  let restored: RestoredDatabase | undefined;
  let catalogPeer: CatalogPeer;
  let dir: string;

  before(async () => {
    tdb = await createTestDatabase('effect_keys');
    catalogPeer = await startCatalogPeer();
    dir = await mkdtemp(path.join(tmpdir(), 'effect-keys-'));
  });
  after(async () => {
    await restored?.drop();
    await tdb?.drop();
    await catalogPeer?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const newOrder = async () => {
    const catalog = createCatalogClient({
      baseUrl: `${catalogPeer.url}/api/items`,
      timeoutMs: 2000,
    });
    const { order } = await createOrder(
      { db: tdb.db, catalog },
      { itemId: STICKER.id, quantity: 2, userId: 'user-keys', idempotencyKey: randomUUID() },
    );
    return order;
  };

  /** Events as Payments and Shipping would send them, each taken in and applied. */
  async function apply(database: Database, orderId: string, eventType: string) {
    const payload =
      eventType === 'payment.succeeded' || eventType === 'refund.succeeded'
        ? { id: 'pay-keys-1', order_id: orderId, status: 'succeeded' }
        : { order_id: orderId, shipment_id: null };
    const source =
      eventType.startsWith('payment') || eventType.startsWith('refund') ? 'payments' : 'shipping';
    const { inboxRow, outboxRef } = await insertInboxEvent(database.db, {
      orderId,
      eventType,
      payload,
      source,
    });
    const result = await applyInboxEvent(database.db, { inboxId: inboxRow.id, outbox: outboxRef });
    expect(result.outcome, `${eventType} on ${orderId}`).to.equal('applied');
  }

  /** After the backup: paid, ship failed, refunded; and paid, cancelled by the customer. */
  async function afterTheBackup(database: Database, failed: string, askedToCancel: string) {
    for (const event of ['payment.succeeded', 'shipping.failed', 'refund.succeeded']) {
      await apply(database, failed, event);
    }
    await apply(database, askedToCancel, 'payment.succeeded');
    await cancelOrder(database.db, { orderId: askedToCancel, userId: 'user-keys' });
    await apply(database, askedToCancel, 'order.cancelled');
  }

  it('when the events after a backup are applied again on the restored database, then every re-created effect carries the key of the first one', async () => {
    const failed = await newOrder();
    const askedToCancel = await newOrder();
    const restore = await backup(tdb, dir);

    await afterTheBackup(tdb, failed.id, askedToCancel.id);
    const first = [await effectsOf(tdb, failed.id), await effectsOf(tdb, askedToCancel.id)];
    restored = await restore();
    const kept = await restored.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(ne(outbox.queue, 'payments'));
    await afterTheBackup(restored, failed.id, askedToCancel.id);
    const again = [
      await effectsOf(restored, failed.id),
      await effectsOf(restored, askedToCancel.id),
    ];

    // The backup held only the orders' creation: payment requests and order.created notices.
    expect(kept).to.have.length(2);
    expect(first.map((o) => o.status)).to.deep.equal(['cancelled', 'cancelled']);
    expect(first[0]!.rows.map((r) => `${r.queue}/${r.event}`)).to.deep.equal([
      'payments/payment.requested',
      'notifications/order.created',
      'notifications/order.paid',
      'shipping/shipping.requested',
      'notifications/order.cancelled',
      'refunds/refund.requested',
      'notifications/order.refunded',
    ]);
    expect(first[1]!.rows.map((r) => `${r.queue}/${r.event}`)).to.include.members([
      'cancellations/shipping.cancel_requested',
      'notifications/order.cancel_requested',
      'refunds/refund.requested',
    ]);
    expect(again).to.deep.equal(first);
    expect(first[0]!.refundKey).to.equal(effectKey(failed.id, 'refund'));
    expect(failed.paymentIdempotencyKey).to.equal(effectKey(failed.id, 'payment'));
    expect(new Set(first.flatMap((o) => o.rows.map((r) => r.key))).size).to.equal(
      first[0]!.rows.length + first[1]!.rows.length,
    );
  });
});
