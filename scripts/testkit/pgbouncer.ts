/**
 * PgBouncer for tests: Debian's `pgbouncer` (installed by scripts/services.sh) in transaction
 * pooling, in front of the Postgres server a test database lives on, on a free port with its
 * config, log and pid file in a temporary directory. It runs in the foreground as a child of the
 * test and is stopped with it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface PgBouncerOptions {
  /** A database URL on the Postgres server to front (its host and port; the user is kept). */
  databaseUrl: string;
  /** Server connections per database and user: 1 makes every client share one. @defaultValue 5 */
  poolSize?: number;
}

export interface TestPgBouncer {
  port: number;
  /** `url` with PgBouncer's host and port: the same database and user, through the pooler. */
  urlFor(url: string): string;
  /**
   * A `SHOW …` of PgBouncer's admin console (`STATS`, `POOLS`, `SERVERS`): what went through it.
   * The user of `databaseUrl` is its admin.
   */
  show(what: 'STATS' | 'POOLS' | 'SERVERS' | 'CLIENTS'): Promise<Record<string, unknown>[]>;
  /** PgBouncer's own log, for a failing test to show. */
  log(): Promise<string>;
  /** Stops it (immediate shutdown: clients are cut) and removes its directory. */
  stop(): Promise<void>;
}

/** Debian puts it in /usr/sbin, which a non-root PATH may lack; PGBOUNCER_BIN overrides. */
export function pgbouncerBin(): string {
  if (process.env.PGBOUNCER_BIN) return process.env.PGBOUNCER_BIN;
  const debian = '/usr/sbin/pgbouncer';
  return existsSync(debian) ? debian : 'pgbouncer';
}

/** The config: transaction pooling, any database on the fronted server, trust as Postgres has. */
export function pgbouncerIni(o: {
  serverHost: string;
  serverPort: number;
  port: number;
  dir: string;
  poolSize: number;
  user?: string;
  adminUser: string;
}): string {
  return [
    '[databases]',
    // A wildcard entry: each test's database is reached under its own name.
    `* = host=${o.serverHost} port=${o.serverPort}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${o.port}`,
    // No Unix socket: two of these on one machine would fight over the same socket path.
    'unix_socket_dir =',
    'pool_mode = transaction',
    // The test Postgres trusts local TCP; PgBouncer still wants each user listed in its auth_file.
    'auth_type = trust',
    `auth_file = ${path.join(o.dir, 'userlist.txt')}`,
    `default_pool_size = ${o.poolSize}`,
    `admin_users = ${o.adminUser}`,
    'max_client_conn = 1000',
    // node-postgres sends statement_timeout in the startup packet, which PgBouncer 1.18 refuses
    // otherwise; the server connections then run with the role's or database's own setting.
    'ignore_startup_parameters = statement_timeout',
    // After a failed server login PgBouncer waits this long before trying again (15 s by
    // default): a Postgres restart would look 15 s longer than it is.
    'server_login_retry = 1',
    `logfile = ${path.join(o.dir, 'pgbouncer.log')}`,
    `pidfile = ${path.join(o.dir, 'pgbouncer.pid')}`,
    // PgBouncer refuses to run as root; given a user, it changes to it after start-up.
    ...(o.user ? [`user = ${o.user}`] : []),
    '',
  ].join('\n');
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<TestPgBouncer> {
  const server = new URL(options.databaseUrl);
  const dir = await mkdtemp(path.join(tmpdir(), 'pgbouncer-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(uid.trim()), Number(gid.trim()));
  }
  const port = await freePort();
  const user = decodeURIComponent(server.username || 'postgres');
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" ""\n`);
  const ini = path.join(dir, 'pgbouncer.ini');
  await writeFile(
    ini,
    pgbouncerIni({
      serverHost: server.hostname,
      serverPort: Number(server.port || 5432),
      port,
      dir,
      poolSize: options.poolSize ?? 5,
      user: asRoot ? 'postgres' : undefined,
      adminUser: user,
    }),
  );

  const child: ChildProcess = spawn(pgbouncerBin(), [ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const spawnFailed = once(child, 'error').then(([err]) => {
    throw new Error(
      `could not run pgbouncer (${(err as Error).message}); scripts/services.sh installs Debian's package`,
    );
  });
  // Raced against readiness below; after a good start it never settles, and must not be reported
  // as an unhandled rejection if the child errors later (stop() then sees it exit).
  spawnFailed.catch(() => undefined);
  // No log yet (or its directory already removed) reads as an empty log.
  const readLog = () => readFile(path.join(dir, 'pgbouncer.log'), 'utf8').catch(() => '');

  const urlFor = (url: string) => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    return u.toString();
  };
  const show = async (what: string) => {
    const u = new URL(urlFor(options.databaseUrl));
    u.pathname = '/pgbouncer';
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      // The admin console speaks the simple query protocol only: a query without parameters.
      return (await c.query<Record<string, unknown>>(`SHOW ${what}`)).rows;
    } finally {
      await c.end();
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await Promise.race([
      spawnFailed,
      waitFor(
        async () => {
          if (child.exitCode !== null) {
            throw new Error(`pgbouncer exited with ${child.exitCode}: ${stderr}${await readLog()}`);
          }
          // A login through it reaches the server: PgBouncer listens and can connect onward.
          const c = new pg.Client({ connectionString: urlFor(options.databaseUrl) });
          // Not up yet is the expected answer for a while: a failed probe means "ask again".
          c.on('error', () => undefined);
          try {
            await c.connect();
            await c.query('select 1');
            return true;
          } catch {
            return false;
          } finally {
            await c.end().catch(() => undefined);
          }
        },
        { timeoutMs: 10_000, intervalMs: 50, what: 'pgbouncer to accept connections' },
      ),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, urlFor, show, log: readLog, stop };
}
