import { expect } from 'chai';
import { orderBody, STICKER } from '../support/factories.js';
import { ADMIN_AUTH, startTestSystem, type TestSystem } from '../support/system.js';
import { ADMIN_URL } from '../../scripts/testkit/database.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import pg from 'pg';

/**
 * Faults under load, against the whole system: every order the API accepted reaches its final
 * state, and every peer sees each effect once.
 */
describe('faults while orders flow', function () {
  this.timeout(90000);
  let sys: TestSystem;

  beforeEach(async () => {
    sys = await startTestSystem({ RECONCILE_AFTER_MS: '500', RECONCILE_EVERY_MS: '200' });
  });
  afterEach(async () => {
    await sys?.stop();
  });

  async function createSome(n: number): Promise<string[]> {
    const answers = await Promise.all(
      Array.from({ length: n }, () =>
        sys.request('POST', '/api/v1/orders', orderBody({ item_id: STICKER.id })),
      ),
    );
    // Accepted means answered 201; anything else was refused and must have written nothing.
    return answers.filter((a) => a.status === 201).map((a) => a.body.data.id as string);
  }

  async function expectShippedOnce(ids: string[]) {
    await Promise.all(ids.map((id) => sys.until(id, ['shipped', 'cancelled'], 20000))).catch(
      async (err: Error) => {
        const open = await sys.db.pool.query(
          `select o.status, x.queue, x.event_type, x.dispatched_at is not null as d, x.completed_at is not null as c,
                x.failed_at is not null as f, x.attempts, x.last_error
           from orders o join outbox x on x.order_id = o.id
          where o.id = any($1) and o.status not in ('shipped', 'cancelled') order by x.id`,
          [ids],
        );
        throw new Error(`${err.message}\n${JSON.stringify(open.rows, null, 1)}`);
      },
    );
    const { payments, shipping } = sys.dev.peers;
    for (const id of ids) {
      const order = (await sys.request('GET', `/api/v1/orders/${id}`)).body.data;
      expect(order.status, id).to.equal('shipped');
      expect(order.history.map((h: { status: string }) => h.status)).to.deep.equal([
        'new',
        'paid',
        'shipped',
      ]);
      expect(payments!.recorded({ order_id: id }).payments, `payments of ${id}`).to.have.length(1);
      expect(shipping!.recorded({ order_id: id }).shipments, `shipments of ${id}`).to.have.length(
        1,
      );
    }
  }

  it('when Payments answers 503 for longer than the old retry budget, then the order is paid and ships once Payments recovers, with no operator action', async () => {
    const { payments } = sys.dev.peers;
    payments!.setFault({ status: 503 });
    let id: string;
    try {
      const created = await sys.request(
        'POST',
        '/api/v1/orders',
        orderBody({ item_id: STICKER.id }),
      );
      expect(created.status).to.equal(201);
      id = created.body.data.id as string;
      // A budget of a few attempts (8, 20 ms doubling: about 2.5 s at most) would give up
      // here. Stay down past both that many attempts and that long.
      const downSince = Date.now();
      await waitFor(
        async () => {
          const row = await sys.db.pool.query(
            "select attempts, failed_at from outbox where order_id = $1 and queue = 'payments'",
            [id],
          );
          const r = row.rows[0] as { attempts: number; failed_at: Date | null } | undefined;
          return (
            r !== undefined &&
            (r.failed_at !== null || (r.attempts >= 12 && Date.now() - downSince > 3000))
          );
        },
        { timeoutMs: 20000, what: 'Payments to have been down past a budget of a few attempts' },
      );
    } finally {
      payments!.setFault(undefined);
    }

    await expectShippedOnce([id]);
  });

  it('when every Postgres connection is cut mid-run (as a restart does), then every accepted order still ships once', async () => {
    const before = await createSome(15);
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      const cut = await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
        [sys.db.name],
      );
      expect(cut.rowCount, 'connections cut').to.be.greaterThan(0);
    } finally {
      await admin.end();
    }
    const after = await createSome(15);

    expect(after.length, 'the API accepts orders again once the pool reconnects').to.be.greaterThan(
      0,
    );
    await expectShippedOnce([...before, ...after]);
  });

  it('when Redis loses every job mid-run (a flush), then the reconciler restores them and every accepted order ships once', async () => {
    const ids = await createSome(20);
    await sys.redis.flush();
    const more = await createSome(10);

    await expectShippedOnce([...ids, ...more]);
    const res = await sys.request('GET', '/admin/queues/api/queues', undefined, ADMIN_AUTH);
    expect(res.status).to.equal(200);
  });
});
