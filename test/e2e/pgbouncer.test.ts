import { expect } from 'chai';
import { KEYBOARD, orderBody, STICKER } from '../support/factories.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

/**
 * The service with DATABASE_URL on PgBouncer 1.18 in transaction pooling, prepared statements
 * off, and DATABASE_DIRECT_URL on Postgres itself for the relay's LISTEN and the migrations.
 * The relay's fallback poll (and the reconciler) wait ten minutes here, so an order that moves
 * within the test's bounds was moved by NOTIFYs that reached the LISTEN connection.
 */
describe('end to end through PgBouncer in transaction pooling', function () {
  this.timeout(60000);
  let sys: TestSystem;

  before(async () => {
    sys = await startTestSystem(
      { OUTBOX_RELAY_POLL_MS: '600000', RECONCILE_EVERY_MS: '600000' },
      { throughPgBouncer: true },
    );
  });
  after(async () => {
    await sys?.stop();
  });

  it('when an order is created through PgBouncer, then NOTIFY wakes the relay and it is paid, shipped and notified once', async () => {
    const created = await sys.request('POST', '/api/v1/orders', orderBody({ quantity: 2 }));
    expect(created.status).to.equal(201);
    const id = created.body.data.id as string;

    // Bounds generous for a loaded machine, still far below the poll.
    const order = await sys.until(id, ['shipped', 'cancelled'], 30000);

    expect(order.status).to.equal('shipped');
    expect((order.history as { status: string }[]).map((h) => h.status)).to.deep.equal([
      'new',
      'paid',
      'shipped',
    ]);
    const { payments, shipping } = sys.peers();
    expect(payments.recorded({ order_id: id }).payments).to.have.length(1);
    expect(shipping.recorded({ order_id: id }).shipments).to.have.length(1);
    await waitFor(() => sys.notificationEvents(id).length === 3, {
      what: 'three notifications',
      timeoutMs: 10000,
    });
    expect(sys.notificationEvents(id)).to.deep.equal([
      'order.created',
      'order.paid',
      'order.shipped',
    ]);
  });

  it('when 30 orders are created at once, then each reaches its expected state, every effect once, and the transactions went through PgBouncer', async () => {
    const before = await transactionsThroughBouncer();
    // Every fifth order fails shipping (quantity 13); every seventh fails payment (x.13).
    const bodies = Array.from({ length: 30 }, (_, i) =>
      i % 7 === 3
        ? orderBody({ item_id: KEYBOARD.id, quantity: 87 })
        : orderBody({ item_id: STICKER.id, quantity: i % 5 === 0 ? 13 : 1 + (i % 4) }),
    );
    const created = await Promise.all(bodies.map((b) => sys.request('POST', '/api/v1/orders', b)));
    expect(created.map((c) => c.status)).to.deep.equal(Array(30).fill(201));
    const ids = created.map((c) => c.body.data.id as string);

    const finals = await Promise.all(
      ids.map((id) => sys.until(id, ['shipped', 'cancelled'], 30000)),
    );

    expect(finals.map((o) => o.status)).to.deep.equal(
      bodies.map((b) => (b.quantity === 87 || b.quantity === 13 ? 'cancelled' : 'shipped')),
    );
    const { payments, shipping } = sys.peers();
    for (const [i, id] of ids.entries()) {
      const paid = bodies[i]!.quantity !== 87;
      expect(payments.recorded({ order_id: id }).payments, `payments for ${i}`).to.have.length(1);
      expect(shipping.recorded({ order_id: id }).shipments, `shipments for ${i}`).to.have.length(
        paid ? 1 : 0,
      );
      expect(payments.recorded({ order_id: id }).refunds, `refunds for ${i}`).to.have.length(
        bodies[i]!.quantity === 13 ? 1 : 0,
      );
    }
    await waitFor(
      async () =>
        (
          await sys.db.pool.query(
            'select 1 from outbox where order_id = any($1) and completed_at is null',
            [ids],
          )
        ).rowCount === 0,
      { timeoutMs: 15000, what: 'no outbox row left pending' },
    );
    // Each order is several transactions (intake, relay batches, jobs, inbox): all through it.
    expect((await transactionsThroughBouncer()) - before).to.be.greaterThan(30 * 5);
  });

  /** Transactions PgBouncer has carried to this system's database so far. */
  async function transactionsThroughBouncer(): Promise<number> {
    const stats = await sys.pgbouncer!.show('STATS');
    return Number(stats.find((s) => s.database === sys.db.name)?.total_xact_count ?? 0);
  }
});
