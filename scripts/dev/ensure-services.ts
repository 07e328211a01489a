/**
 * Makes `npm run dev` and `npm test` the whole set-up: before either starts, PostgreSQL and Redis
 * must answer on their URLs. A local one that does not is brought up by scripts/services.sh when
 * that can work here (root on Debian or Ubuntu); otherwise the run stops with one message naming
 * what is missing and the one command that fixes it, and no stack trace.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVICES_SCRIPT = fileURLToPath(new URL('../services.sh', import.meta.url));
export const DEBIAN_FIX = 'sudo bash scripts/services.sh';
export const DOCKER_FIX = 'docker compose up -d postgres redis';

/** A service to check: its name, the URL it is reached on and the variable that sets that URL. */
export interface ServiceTarget {
  name: 'PostgreSQL' | 'Redis';
  url: string;
  variable: string;
}

/** What the check does to the outside world, replaceable in tests. */
export interface ServiceHost {
  /** Whether something accepts a TCP connection on host:port. */
  answers(host: string, port: number): Promise<boolean>;
  /** Runs scripts/services.sh with its output shown; resolves to its exit code. */
  runServicesScript(env: NodeJS.ProcessEnv): Promise<number>;
  isRoot(): boolean;
  /** Debian or Ubuntu with apt-get: where scripts/services.sh can install and start both. */
  isDebianLike(): boolean;
  /** Where the note that the script is about to run goes. */
  say(line: string): void;
}

/** Postgres or Redis is not reachable and could not be brought up here; the message says how. */
export class ServicesUnavailableError extends Error {
  override name = 'ServicesUnavailableError';
}

const DEFAULT_PORTS = { PostgreSQL: 5432, Redis: 6379 } as const;
const PROBE_TIMEOUT_MS = 1000;

interface Endpoint extends ServiceTarget {
  host: string;
  port: number;
}

/** A URL that does not parse is left to the config's validation, which names the variable. */
function endpointOf(target: ServiceTarget): Endpoint | undefined {
  if (!URL.canParse(target.url)) return undefined;
  const u = new URL(target.url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { ...target, host, port: u.port ? Number(u.port) : DEFAULT_PORTS[target.name] };
}

/** Only services on this machine are ours to start; a remote one is its operator's. */
export function isLocalHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const where = (e: Endpoint) =>
  `${e.name} on ${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port} (${e.variable})`;

function listOf(endpoints: Endpoint[]): string {
  const parts = endpoints.map(where);
  return parts.length < 2 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

async function missingOf(endpoints: Endpoint[], host: ServiceHost): Promise<Endpoint[]> {
  const answered = await Promise.all(endpoints.map((e) => host.answers(e.host, e.port)));
  return endpoints.filter((_, i) => !answered[i]);
}

/**
 * Resolves once every target answers, after running scripts/services.sh if it had to and could;
 * throws ServicesUnavailableError, whose message is meant for the terminal as it is, otherwise.
 */
export async function ensureServices(
  targets: ServiceTarget[],
  host: ServiceHost = systemHost(),
): Promise<void> {
  const endpoints = targets.map(endpointOf).filter((e) => e !== undefined);
  const missing = await missingOf(endpoints, host);
  if (missing.length === 0) return;

  const remote = missing.filter((e) => !isLocalHost(e.host));
  if (remote.length) {
    throw new ServicesUnavailableError(
      `${listOf(remote)} ${remote.length > 1 ? 'do' : 'does'} not answer.\n` +
        `Start ${remote.length > 1 ? 'them' : 'it'}, or point ${remote.map((e) => e.variable).join(' and ')} at one that runs.`,
    );
  }

  const debian = host.isDebianLike();
  if (!(debian && host.isRoot())) {
    throw new ServicesUnavailableError(
      `${listOf(missing)} ${missing.length > 1 ? 'do' : 'does'} not answer.\n` +
        `Fix: ${debian ? DEBIAN_FIX : DOCKER_FIX}`,
    );
  }

  host.say(
    `${listOf(missing)}: not answering; starting ${missing.length > 1 ? 'them' : 'it'} with ` +
      'scripts/services.sh',
  );
  const ports = Object.fromEntries(
    endpoints.map((e) => [e.name === 'PostgreSQL' ? 'PG_PORT' : 'REDIS_PORT', String(e.port)]),
  );
  const code = await host.runServicesScript({ ...process.env, ...ports });
  if (code !== 0) {
    throw new ServicesUnavailableError(
      `scripts/services.sh failed (exit ${code}; its output is above), so ${listOf(missing)} ` +
        `${missing.length > 1 ? 'do' : 'does'} not answer.`,
    );
  }
  const still = await missingOf(missing, host);
  if (still.length) {
    throw new ServicesUnavailableError(
      `scripts/services.sh ran, yet ${listOf(still)} ${still.length > 1 ? 'do' : 'does'} not ` +
        'answer: the script starts them on 5432 and 6379; point the URL there.',
    );
  }
}

/** For entry points: a ServicesUnavailableError prints its message alone and exits 1. */
export async function ensureServicesOrExit(
  targets: ServiceTarget[],
  host?: ServiceHost,
): Promise<void> {
  try {
    await ensureServices(targets, host);
  } catch (err) {
    if (!(err instanceof ServicesUnavailableError)) throw err;
    process.stderr.write(`\n${err.message}\n\n`);
    process.exit(1);
  }
}

export function tcpAnswers(host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS) {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir && existsSync(join(dir, command)));
}

/** ID or ID_LIKE of /etc/os-release names debian or ubuntu. */
export function debianLike(osRelease: string): boolean {
  return /^(ID|ID_LIKE)=["']?[^\n]*\b(debian|ubuntu)\b/m.test(osRelease);
}

export function systemHost(): ServiceHost {
  return {
    answers: (host, port) => tcpAnswers(host, port),
    runServicesScript: (env) =>
      new Promise((resolve, reject) => {
        const child = spawn('bash', [SERVICES_SCRIPT], { stdio: 'inherit', env });
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      }),
    isRoot: () => process.getuid?.() === 0,
    isDebianLike: () => {
      if (!onPath('apt-get') || !existsSync('/etc/os-release')) return false;
      return debianLike(readFileSync('/etc/os-release', 'utf8'));
    },
    say: (line) => process.stderr.write(`${line}\n`),
  };
}
