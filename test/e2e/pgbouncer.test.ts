import { expect } from 'chai';
import { orderBody } from '../support/factories.js';
import { createMixedOrders, expectOutboxSettled } from '../support/mixed-orders.js';
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
    const { ids } = await createMixedOrders(sys, 30);
    await expectOutboxSettled(sys, ids, 15000);
    // Each order is several transactions (intake, relay batches, jobs, inbox): all through it.
    expect((await transactionsThroughBouncer()) - before).to.be.greaterThan(30 * 5);
  });

  /** Transactions PgBouncer has carried to this system's database so far. */
  async function transactionsThroughBouncer(): Promise<number> {
    const stats = await sys.pgbouncer!.show('STATS');
    return Number(stats.find((s) => s.database === sys.db.name)?.total_xact_count ?? 0);
  }
});
