/**
 * A Postgres server of a scenario's own, for scenarios that stop and restart it: initdb in a
 * temporary directory, run as the `postgres` OS user (Postgres refuses to run as root, and the
 * tests do), trust authentication, listening on 127.0.0.1 on a free port with its socket in the
 * temporary directory. Nothing else on the machine uses it, so stopping it disturbs nobody.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../support/system.js';

const run = promisify(execFile);

/** The newest installed server's bin directory, or PG_BIN. */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error(`no Postgres server under ${root}; set PG_BIN`);
  return path.join(root, versions[0], 'bin');
}

export interface PrivatePostgres {
  port: number;
  /** The `postgres` database as superuser, for createTestDatabase's admin URL. */
  adminUrl: string;
  /** Stops it: `immediate` is a crash (no checkpoint, clients cut), `fast` a clean stop. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  /** Starts it again on the same port and data; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

interface OsUser {
  uid: number;
  gid: number;
}

async function postgresUser(): Promise<OsUser> {
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = await mkdtemp(path.join(tmpdir(), 'faults-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const user = await postgresUser();
    await chown(dir, user.uid, user.gid);
  }
  /** Runs a Postgres tool as the postgres user (directly when the tests are not root). */
  const tool = (name: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, name), ...args], { timeout: 60_000 })
      : run(path.join(bin, name), args, { timeout: 60_000 });

  const port = await freePort();
  await tool('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  // fsync off: a test server need not survive the machine crashing, only its processes; every
  // commit still reaches the OS before it is acknowledged, so a crash-stop loses nothing.
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');

  async function start(): Promise<void> {
    await tool('pg_ctl', ['start', '-D', data, '-l', logFile, '-w', '-t', '60', '-o', options]);
  }
  async function stop(mode: 'immediate' | 'fast' = 'fast'): Promise<void> {
    await tool('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60']);
  }
  await start();
  // Postgres runs detached from this process: a run that ends without destroy() must not leave it.
  const onExit = () => {
    try {
      const ctl = [path.join(bin, 'pg_ctl'), 'stop', '-D', data, '-m', 'immediate'];
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', ...ctl], { stdio: 'ignore' });
      else execFileSync(ctl[0]!, ctl.slice(1), { stdio: 'ignore' });
    } catch {
      // Already stopped.
    }
  };
  process.once('exit', onExit);
  let destroyed = false;
  return {
    port,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.off('exit', onExit);
      await stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
