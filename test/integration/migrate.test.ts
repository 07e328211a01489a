import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '../../db/migrate.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { ADMIN_URL, databaseUrl } from '../../scripts/testkit/database.js';

describe('release: migrations', () => {
  const name = `os_migrate_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });

  before(async () => {
    await admin.connect();
    await admin.query(`create database "${name}"`);
  });
  after(async () => {
    await admin.query(`drop database if exists "${name}" with (force)`);
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
});
