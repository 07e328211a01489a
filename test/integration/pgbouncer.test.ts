import { expect } from 'chai';
import { createDatabase } from '../../db/client.js';
import { run, statement } from '../../db/statement.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { startPgBouncer, type TestPgBouncer } from '../../scripts/testkit/pgbouncer.js';

/**
 * Why DATABASE_PREPARED_STATEMENTS exists: PgBouncer 1.18 (Debian 12's) in transaction pooling
 * hands each transaction whichever server connection is free, while node-postgres remembers per
 * client connection which named statements it prepared. With one server connection behind two
 * clients, the second client's Parse of the same name meets the first one's statement.
 */
describe('statements through PgBouncer in transaction pooling', function () {
  this.timeout(30000);
  let tdb: TestDatabase;
  let bouncer: TestPgBouncer;
  const probe = statement<{ n: number }>('pgbouncer_probe', 'select $1::int as n');

  /**
   * Sends the probe statement from two client connections at once, a few times each; returns
   * the outcomes and PgBouncer's pool as it was before those connections closed.
   */
  async function probeTwice(preparedStatements: boolean) {
    const database = createDatabase({
      url: bouncer.urlFor(tdb.url),
      max: 2,
      logger: silentLogger(),
      preparedStatements,
    });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => run(database.db, probe, [i])),
      );
      const pool = (await bouncer.show('POOLS')).find((p) => p.database === tdb.name);
      return { results, pool };
    } finally {
      await database.close();
    }
  }

  before(async () => {
    tdb = await createTestDatabase('pgbouncer');
    bouncer = await startPgBouncer({ databaseUrl: tdb.url, poolSize: 1 });
  });

  after(async () => {
    await bouncer?.stop();
    await tdb?.drop();
  });

  it('when prepared statements stay on behind PgBouncer 1.18, then a second client connection fails on the same statement name', async () => {
    const { results } = await probeTwice(true);

    const errors = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as Error).message] : [],
    );
    expect(errors, 'statements refused').to.not.be.empty;
    expect(errors[0]).to.match(
      /prepared statement "pgbouncer_probe" (already exists|does not exist)/,
    );
  });

  it('when prepared statements are off, then every statement runs, from two client connections on one server connection', async () => {
    const { results, pool } = await probeTwice(false);

    expect(results.map((r) => r.status)).to.deep.equal(Array(8).fill('fulfilled'));
    const values = results.map((r) => (r as PromiseFulfilledResult<{ n: number }[]>).value[0]!.n);
    expect(values).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    // 1.18 counts a logged-in client between transactions as active.
    const clients = Number(pool?.cl_active);
    const servers = Number(pool?.sv_active) + Number(pool?.sv_idle) + Number(pool?.sv_used);
    expect(clients, 'client connections').to.be.at.least(2);
    expect(servers, 'server connections').to.equal(1);
  });
});
