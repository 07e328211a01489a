import { expect } from 'chai';
import pg from 'pg';
import { ADMIN_URL } from '../database.js';
import { pgbouncerIni, startPgBouncer } from '../pgbouncer.js';

describe('testkit: PgBouncer', function () {
  this.timeout(30000);

  it('when its config is written, then it pools by transaction in front of the given server and changes user only when asked', () => {
    const ini = pgbouncerIni({
      serverHost: '10.0.0.5',
      serverPort: 5433,
      port: 40001,
      dir: '/tmp/x',
      poolSize: 3,
      adminUser: 'postgres',
    });
    expect(ini).to.include('* = host=10.0.0.5 port=5433');
    expect(ini).to.match(/^pool_mode = transaction$/m);
    expect(ini).to.match(/^listen_port = 40001$/m);
    expect(ini).to.match(/^default_pool_size = 3$/m);
    expect(ini).to.match(/^ignore_startup_parameters = statement_timeout$/m);
    expect(ini).to.not.match(/^user =/m);
    expect(pgbouncerIni({ ...iniBase(), user: 'postgres' })).to.match(/^user = postgres$/m);
  });

  it('when started, then a client reaches Postgres through it in transaction pooling, and once stopped nothing listens and its directory is gone', async () => {
    const bouncer = await startPgBouncer({ databaseUrl: ADMIN_URL });
    const url = bouncer.urlFor(ADMIN_URL);
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const { rows } = await c.query<{ one: number }>('select 1 as one');
      await c.end();
      expect(rows[0]!.one).to.equal(1);
      const pools = await bouncer.show('POOLS');
      expect(pools.find((p) => p.database === 'postgres')?.pool_mode).to.equal('transaction');
      expect(await bouncer.log(), 'its log').to.include('listening on');
    } finally {
      await bouncer.stop();
    }

    const after = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    // A refused connection also emits 'error' on the client; the rejected connect() is the check.
    after.on('error', () => undefined);
    const refused = await after.connect().then(
      () => false,
      () => true,
    );
    expect(refused, 'connection refused after stop').to.equal(true);
    expect(await bouncer.log(), 'log removed with its directory').to.equal('');
  });
});

function iniBase() {
  return { serverHost: 'h', serverPort: 1, port: 2, dir: '/d', poolSize: 1, adminUser: 'u' };
}
