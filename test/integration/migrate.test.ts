import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import sinon from 'sinon';
import { MIGRATIONS_FOLDER, runMigrations } from '../../db/migrate.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { ADMIN_URL, databaseUrl } from '../../scripts/testkit/database.js';
import { freePort } from '../../scripts/testkit/ports.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { committedTags, migrationsFolder, type MigrationsFolder } from '../support/migrations.js';

/** The last migration applied by drizzle's own migrator, before the release had one of its own. */
const DRIZZLE_MIGRATOR_LAST = '0006_payment_checks';

/** Retries that end within a test's time: the release's own pauses are seconds. */
const FAST = { lockTimeoutMs: 100, backoff: { minMs: 20, maxMs: 50 } };

describe('release: migrations', () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  const cleanups: Array<() => Promise<unknown>> = [];

  /** An empty database of its own, and a client on it. */
  async function emptyDatabase(): Promise<{ url: string; client: pg.Client }> {
    const name = `os_migrate_${randomBytes(4).toString('hex')}`;
    await admin.query(`create database "${name}"`);
    cleanups.push(() => admin.query(`drop database if exists "${name}" with (force)`));
    const url = databaseUrl(name);
    return { url, client: await connect(url) };
  }

  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    cleanups.unshift(() => client.end().catch(() => undefined));
    return client;
  }

  async function folder(...statements: string[][]): Promise<MigrationsFolder> {
    const f = await migrationsFolder(
      statements.map((s, i) => ({ tag: `000${i}_test`, statements: s })),
      { withCommitted: false },
    );
    cleanups.push(() => f.remove());
    return f;
  }

  before(() => admin.connect());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  after(() => admin.end());

  it('when two release processes migrate at once, then both succeed and each migration is applied once', async () => {
    const { url, client } = await emptyDatabase();
    await Promise.all([runMigrations(url, silentLogger()), runMigrations(url, silentLogger())]);

    const applied = await client.query('select hash from drizzle.__drizzle_migrations');
    const files = (await readdir(MIGRATIONS_FOLDER)).filter((f) => f.endsWith('.sql'));
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
      'webhook_deliveries',
      'webhook_subscriptions',
    ]);
  });

  it('when DATABASE_DIRECT_URL is set, then the release migrates on it, never through the pooler DATABASE_URL names', async () => {
    const { url, client } = await emptyDatabase();
    // Nothing listens on DATABASE_URL here: the release succeeds only on the direct connection,
    // where its session advisory lock holds (through transaction pooling it would not).
    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'db/migrate.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/unused`,
        DATABASE_DIRECT_URL: url,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = await once(child, 'exit');

    expect(code, stderr).to.equal(0);
    const applied = await client.query('select 1 from drizzle.__drizzle_migrations');
    expect(applied.rowCount).to.be.greaterThan(0);
  });

  it("when a database was migrated by drizzle's own migrator, then the release keeps its history and applies only the newer migrations", async () => {
    const { url, client } = await emptyDatabase();
    // drizzle's migrator ran a whole folder in one transaction: databases it migrated hold the
    // migrations up to 0006, the last before the release's own migrator (and CONCURRENTLY).
    const drizzleEra = await migrationsFolder([], {
      withCommitted: true,
      committedUpTo: DRIZZLE_MIGRATOR_LAST,
    });
    cleanups.push(() => drizzleEra.remove());
    await migrate(drizzle(client), { migrationsFolder: drizzleEra.path });
    const before = await client.query('select hash, created_at from drizzle.__drizzle_migrations');

    const f = await migrationsFolder(
      [{ tag: '9000_test_note', statements: ['ALTER TABLE "orders" ADD COLUMN "note" text'] }],
      { withCommitted: true },
    );
    cleanups.push(() => f.remove());
    const result = await runMigrations(url, silentLogger(), { folder: f.path });

    const tags = await committedTags();
    const newer = tags.slice(tags.indexOf(DRIZZLE_MIGRATOR_LAST) + 1);
    expect(result.applied).to.deep.equal([...newer, '9000_test_note']);
    const after = await client.query(
      'select hash, created_at from drizzle.__drizzle_migrations order by id',
    );
    expect(after.rows.slice(0, before.rowCount!)).to.deep.equal(before.rows);
    expect(after.rowCount).to.equal(before.rowCount! + newer.length + 1);
  });

  it('when a statement cannot get its lock within lock_timeout, then queries on the table wait no longer than that, and the release tries again and applies it once the lock is released', async () => {
    const { url, client } = await emptyDatabase();
    await client.query('create table widgets (id int primary key)');
    await client.query('insert into widgets select generate_series(1, 1000)');
    const f = await folder([
      `ALTER TABLE "widgets" ADD COLUMN "color" text DEFAULT 'red' NOT NULL`,
    ]);

    // A long transaction that read the table: ALTER TABLE cannot get its lock while it is open.
    const holder = await connect(url);
    await holder.query('begin');
    await holder.query('select count(*) from widgets');

    const logger = silentLogger();
    const warn = sinon.spy(logger, 'warn');
    const release = runMigrations(url, logger, { folder: f.path, lockAttempts: 1000, ...FAST });
    await waitFor(() => warn.callCount >= 3, { what: 'three lock timeouts' });

    // Meanwhile the table is still served: a write waits behind the ALTER at most lock_timeout.
    const reader = await connect(url);
    const started = Date.now();
    await reader.query('insert into widgets values (1001)');
    expect(Date.now() - started, 'ms an insert waited').to.be.below(1000);

    await holder.query('commit');
    const result = await release;

    expect(result.lockRetries).to.be.at.least(3);
    const { rows } = await client.query<{ color: string; n: number }>(
      'select color, count(*)::int as n from widgets group by color',
    );
    expect(rows).to.deep.equal([{ color: 'red', n: 1001 }]);
  });

  it('when a statement keeps missing its lock, then the release fails after its tries and the next one resumes at that statement without re-running the ones before', async () => {
    const { url, client } = await emptyDatabase();
    await client.query('create table widgets (id int primary key)');
    const f = await folder([
      'CREATE TABLE "gadgets" ("id" integer PRIMARY KEY)',
      'ALTER TABLE "widgets" ADD COLUMN "size" integer',
    ]);
    const holder = await connect(url);
    await holder.query('begin');
    await holder.query('select count(*) from widgets');

    const failed = await runMigrations(url, silentLogger(), {
      folder: f.path,
      lockAttempts: 3,
      ...FAST,
    }).then(
      () => undefined,
      (err: unknown) => err as { code?: string },
    );
    expect(failed?.code, 'the error of the last try').to.equal('55P03');
    const progress = await client.query('select statements_done from drizzle.migration_progress');
    expect(progress.rows).to.deep.equal([{ statements_done: 1 }]);

    await holder.query('commit');
    // CREATE TABLE "gadgets" again would fail: the release must start at the ALTER.
    const result = await runMigrations(url, silentLogger(), { folder: f.path, ...FAST });

    expect(result.applied).to.deep.equal(['0000_test']);
    const columns = await client.query(
      "select column_name from information_schema.columns where table_name = 'widgets' order by 1",
    );
    expect(columns.rows.map((r) => r.column_name)).to.deep.equal(['id', 'size']);
    expect((await client.query('select * from drizzle.migration_progress')).rowCount).to.equal(0);
    expect((await client.query('select * from drizzle.__drizzle_migrations')).rowCount).to.equal(1);
  });

  it('when a concurrent index build failed halfway, then the next release drops the invalid index and builds it again', async () => {
    const { url, client } = await emptyDatabase();
    await client.query('create table widgets (id int primary key, code text)');
    await client.query(
      "insert into widgets select i, 'w' || i from generate_series(1, 1000) i union all select 1001, 'w1'",
    );
    // IF NOT EXISTS, as the linter asks: alone it would keep the invalid index a failed build left.
    const f = await folder([
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "widgets_code_uq" ON "widgets" USING btree ("code")',
    ]);

    const failed = await runMigrations(url, silentLogger(), { folder: f.path, ...FAST }).then(
      () => undefined,
      (err: unknown) => err as { code?: string },
    );
    expect(failed?.code, 'a duplicate code fails the unique build').to.equal('23505');
    const validity = () =>
      client.query<{ valid: boolean }>(
        "select indisvalid as valid from pg_index where indexrelid = to_regclass('widgets_code_uq')",
      );
    expect((await validity()).rows).to.deep.equal([{ valid: false }]);

    await client.query('delete from widgets where id = 1001');
    const result = await runMigrations(url, silentLogger(), { folder: f.path, ...FAST });

    expect(result.applied).to.deep.equal(['0000_test']);
    expect((await validity()).rows).to.deep.equal([{ valid: true }]);
  });

  it("when the safe forms the linter is shown (scripts/migration-lint/safe.sql) are released on the service's schema, then every statement applies", async () => {
    const { url, client } = await emptyDatabase();
    await runMigrations(url, silentLogger());
    await client.query(
      `insert into orders (id, user_id, item_id, quantity, unit_price, amount, status, idempotency_key, request_hash, payment_idempotency_key)
       select gen_random_uuid(), 'u', gen_random_uuid(), 1, 1.00, 1.00, 'new', gen_random_uuid(), 'h', gen_random_uuid()
       from generate_series(1, 100)`,
    );
    const safe = await readFile(
      new URL('../../scripts/migration-lint/safe.sql', import.meta.url),
      'utf8',
    );
    const f = await migrationsFolder([{ tag: '9000_safe_forms', statements: [safe] }], {
      withCommitted: true,
    });
    cleanups.push(() => f.remove());

    const result = await runMigrations(url, silentLogger(), { folder: f.path, ...FAST });

    expect(result.applied).to.deep.equal(['9000_safe_forms']);
    const constraints = await client.query(
      "select conname, convalidated from pg_constraint where conname in ('orders_channel_ck', 'order_notes_order_id_orders_id_fk') order by 1",
    );
    expect(constraints.rows).to.deep.equal([
      { conname: 'order_notes_order_id_orders_id_fk', convalidated: true },
      { conname: 'orders_channel_ck', convalidated: true },
    ]);
    const channels = await client.query('select distinct channel from orders');
    expect(channels.rows).to.deep.equal([{ channel: 'web' }]);
    const traceId = await client.query(
      "select is_nullable from information_schema.columns where table_name = 'outbox' and column_name = 'trace_id'",
    );
    expect(traceId.rows).to.deep.equal([{ is_nullable: 'NO' }]);
  });

  it('when the release process is killed while it builds an index concurrently and the next release comes meanwhile, then the build ends in its session, the next release waits for it without a deadlock, finds the index valid and records the migration', async function () {
    // The release starts from its entry file, compiled by tsx: seconds on a busy machine.
    this.timeout(60_000);
    const { url, client } = await emptyDatabase();
    await client.query('create table widgets (id int primary key, code text)');
    await client.query("insert into widgets select i, 'w' || i from generate_series(1, 1000) i");
    const f = await folder([
      'CREATE INDEX CONCURRENTLY "widgets_code_idx" ON "widgets" USING btree ("code")',
    ]);
    // An open transaction that wrote the table: a concurrent build waits for it to end.
    const holder = await connect(url);
    await holder.query('begin');
    await holder.query("insert into widgets values (1001, 'w1001')");

    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'db/migrate.ts', f.path], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: url },
      stdio: 'ignore',
    });
    const building = () =>
      client.query(
        `select pid from pg_stat_activity
          where datname = current_database() and state = 'active'
            and application_name = 'order-service-migrate' and query like 'CREATE INDEX CONCURRENTLY%'`,
      );
    await waitFor(async () => (await building()).rowCount === 1, {
      timeoutMs: 45_000,
      what: 'the release building the index',
    });
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    // Postgres notices a lost client only when it next talks to it: the build goes on.
    expect((await building()).rowCount, 'builds still running').to.equal(1);

    // The next release arrives while that build still waits, and waits for the release lock.
    const logger = silentLogger();
    const info = sinon.spy(logger, 'info');
    const next = runMigrations(url, logger, { folder: f.path, ...FAST });
    await waitFor(
      async () =>
        (
          await client.query(
            `select 1 from pg_stat_activity
              where datname = current_database() and application_name = 'order-service-migrate'`,
          )
        ).rowCount === 2,
      { what: 'the next release connected' },
    );
    await holder.query('commit');
    const result = await next;

    expect(result.applied).to.deep.equal(['0000_test']);
    expect(
      info
        .getCalls()
        .some((c) => c.args.includes('migration: index already built, statement skipped')),
      'the build of the killed release is the one that finished',
    ).to.equal(true);
    const { rows } = await client.query<{ valid: boolean }>(
      "select indisvalid as valid from pg_index where indexrelid = to_regclass('widgets_code_idx')",
    );
    expect(rows).to.deep.equal([{ valid: true }]);
  });
});
