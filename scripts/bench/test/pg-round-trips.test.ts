import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_URL } from '../../testkit/database.js';
import { roundTripCounter } from '../pg-round-trips.js';
import { REPO } from '../system.js';

/** A process that makes `queries` round trips (one of them a two-statement simple query), then idles. */
const CHILD = `
import pg from 'pg';
const client = new pg.Client({ connectionString: process.env.PG_URL });
await client.connect();
for (let i = 0; i < Number(process.env.QUERIES) - 1; i++) await client.query('select $1::int', [i]);
await client.query('begin; select 1');
await client.query('rollback');
process.stdout.write('done\\n');
setInterval(() => undefined, 1000);
`;

describe('bench Postgres round trips: counted in the service processes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-round-trips-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when a process makes queries, then each request to Postgres counts once, BEGIN sent with a statement included', async () => {
    const counter = roundTripCounter(dir);
    const child = spawn(
      process.execPath,
      [...counter.nodeArgs, '--input-type=module', '-e', CHILD],
      { cwd: REPO, env: { ...process.env, PG_URL: ADMIN_URL, QUERIES: '7' }, stdio: 'pipe' },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      // 6 prepared-protocol queries, the two-statement simple query, and the rollback.
      expect(await counter.read({ worker: child.pid! })).to.deep.equal({ worker: 8 });
      expect(await counter.read({ web: child.pid!, worker: child.pid! })).to.deep.equal({
        web: 8,
        worker: 8,
      });
    } finally {
      child.kill();
    }
  });

  it('when a process is gone, then the count is unknown, not zero', async () => {
    const counter = roundTripCounter(dir);
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await counter.read({ web: child.pid! })).to.equal(undefined);
  });
});
