/**
 * The service's three Procfile processes (web, worker, consumer) as child processes, exactly as
 * the platform runs them apart from compiling (`node --import tsx/esm <entry>`), configured only
 * through their environment. Each logs `ready` (lib/platform/runner.ts) once it serves; their
 * output goes to one log file per scenario, kept for a failed scenario.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Starts tried when the service's port is briefly taken by another lane's socket. */
const PORT_RETRIES = 3;

export type ProcessKind = 'web' | 'worker' | 'consumer';

const ENTRIES: Record<ProcessKind, string> = {
  web: 'api/server.ts',
  worker: 'jobs/worker.ts',
  consumer: 'jobs/shipping-consumer.ts',
};

/** Bound on a start: compiling with tsx on a busy two-core machine is slow. */
const READY_TIMEOUT_MS = 90_000;

export interface ServiceProcess {
  kind: ProcessKind;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** How many times it was started, and killed with SIGKILL. */
  readonly starts: number;
  readonly kills: number;
  /** Spawns it; resolves when it logged `ready`, rejects if it exits or takes too long first. */
  start(): Promise<void>;
  /** `kill -9`: no shutdown code runs. Resolves when it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, as the platform stops it; SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface Service {
  web: ServiceProcess;
  worker: ServiceProcess;
  consumer: ServiceProcess;
  all: ServiceProcess[];
  /** Starts the three together. */
  start(): Promise<void>;
  /** Stops whatever runs (SIGTERM, then SIGKILL) and closes the log. */
  stop(): Promise<void>;
}

/** Every child started here, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function serviceProcess(kind: ProcessKind, env: NodeJS.ProcessEnv, log: WriteStream) {
  let child: ChildProcess | undefined;
  let starts = 0;
  let kills = 0;
  const isRunning = () =>
    child !== undefined && child.exitCode === null && child.signalCode === null;

  async function signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const proc = child;
    if (!proc || !isRunning()) return;
    const exited = once(proc, 'exit');
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  const proc: ServiceProcess = {
    kind,
    get pid() {
      return isRunning() ? child?.pid : undefined;
    },
    get running() {
      return isRunning();
    },
    get starts() {
      return starts;
    },
    get kills() {
      return kills;
    },
    async start() {
      if (isRunning()) return;
      starts++;
      const p = spawn(process.execPath, ['--import', 'tsx/esm', ENTRIES[kind]], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = p;
      live.add(p);
      p.once('exit', () => live.delete(p));
      let tail = '';
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${kind} did not log ready within ${READY_TIMEOUT_MS} ms`)),
          READY_TIMEOUT_MS,
        );
        p.once('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`${kind} exited (${code ?? sig}) before it was ready:\n${tail}`));
        });
        const onLine = (line: string) => {
          tail = (tail + line + '\n').slice(-3000);
          log.write(`[${kind} ${p.pid}] ${line}\n`);
          // bunyan JSON; `ready` is the runner's line once the process serves.
          if (line.includes('"msg":"ready"')) {
            clearTimeout(timer);
            resolve();
          }
        };
        createInterface({ input: p.stdout! }).on('line', onLine);
        createInterface({ input: p.stderr! }).on('line', onLine);
      });
      // A rejection after `ready` (the exit of a later kill) has nobody to hear it.
      ready.catch(() => undefined);
      await ready;
    },
    async kill() {
      if (!isRunning()) return;
      kills++;
      log.write(`[faults] kill -9 ${kind} ${child?.pid}\n`);
      await signal('SIGKILL', 0);
    },
    stop: (graceMs = 10_000) => signal('SIGTERM', graceMs),
  };
  // The port was free when the system picked it; another lane's short-lived socket can hold it
  // for a moment (EADDRINUSE): the harness's race, not the service's fault, so start again.
  const startOnce = proc.start.bind(proc);
  proc.start = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce();
      } catch (err) {
        if (attempt >= PORT_RETRIES || !/EADDRINUSE/.test((err as Error).message)) throw err;
        log.write(`[faults] ${kind}: port in use, starting again (${attempt})\n`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  };
  return proc;
}

/** The three processes on `env` (the full environment each child gets). */
export function createService(env: NodeJS.ProcessEnv, logFile: string): Service {
  const log = createWriteStream(logFile, { flags: 'a' });
  const web = serviceProcess('web', env, log);
  const worker = serviceProcess('worker', env, log);
  const consumer = serviceProcess('consumer', env, log);
  const all = [web, worker, consumer];
  return {
    web,
    worker,
    consumer,
    all,
    async start() {
      await Promise.all(all.map((p) => p.start()));
    },
    async stop() {
      await Promise.all(all.map((p) => p.stop()));
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
