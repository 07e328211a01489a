import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import pg from 'pg';
import { runMigrations } from '../../db/migrate.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { ADMIN_URL, databaseUrl } from '../../scripts/testkit/database.js';
import { freePort } from '../../scripts/testkit/ports.js';

describe('release: migrations', function () {
  this.timeout(30000);
  const name = `os_migrate_${randomBytes(4).toString('hex')}`;
  const direct = `os_migrate_direct_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });

  before(async () => {
    await admin.connect();
    await admin.query(`create database "${name}"`);
    await admin.query(`create database "${direct}"`);
  });
  after(async () => {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.query(`drop database if exists "${direct}" with (force)`);
    await admin.end();
  });

  it('when two release processes migrate at once, then both succeed and each migration is applied once', async () => {
    const url = databaseUrl(name);
    await Promise.all([runMigrations(url, silentLogger()), runMigrations(url, silentLogger())]);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const applied = await client.query('select hash from drizzle.__drizzle_migrations');
      const { readdir } = await import('node:fs/promises');
      const files = (await readdir(new URL('../../db/migrations', import.meta.url))).filter((f) =>
        f.endsWith('.sql'),
      );
      expect(applied.rowCount).to.equal(files.length);
      const tables = await client.query(
        "select table_name from information_schema.tables where table_schema = 'public' order by 1",
      );
      expect(tables.rows.map((r) => r.table_name)).to.deep.equal([
        'dead_letters',
        'inbox',
        'order_status_history',
        'orders',
        'outbox',
      ]);
    } finally {
      await client.end();
    }
  });

  it('when DATABASE_DIRECT_URL is set, then the release migrates on it, never through the pooler DATABASE_URL names', async () => {
    // Nothing listens on DATABASE_URL here: the release succeeds only on the direct connection,
    // where its session advisory lock holds (through transaction pooling it would not).
    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'db/migrate.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/${direct}`,
        DATABASE_DIRECT_URL: databaseUrl(direct),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = await once(child, 'exit');

    expect(code, stderr).to.equal(0);
    const client = new pg.Client({ connectionString: databaseUrl(direct) });
    await client.connect();
    try {
      const applied = await client.query('select 1 from drizzle.__drizzle_migrations');
      expect(applied.rowCount).to.be.greaterThan(0);
    } finally {
      await client.end();
    }
  });
});
