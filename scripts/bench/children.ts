/**
 * The service's processes as child processes, the way the platform runs them (one OS process per
 * Procfile type), each with its own environment. Their JSON log lines are kept (the last few, for
 * a failure report) and counted by level, so warnings during a run show up in the report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';

export interface ServiceProcess {
  name: string;
  pid: number | undefined;
  /** Lines at bunyan WARN (40) or above, and lines that are not JSON (stack traces, crashes). */
  readonly warnings: number;
  readonly errors: number;
  /** The last lines it wrote, for a failure report. */
  tail(): string[];
  /** Resolves when GET {url} answers 200; rejects if the process exits or `timeoutMs` passes. */
  waitReady(url: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: boolean;
}

const TAIL_LINES = 40;
const READY_POLL_MS = 100;

export function startServiceProcess(options: {
  name: string;
  entry: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** False for a process whose stdout is a banner rather than log lines (the Catalog peer). */
  stdoutIsLog?: boolean;
  /** Extra node flags (--cpu-prof for --profile). */
  nodeArgs?: string[];
  /**
   * Run the compiled entry under dist/ exactly as the Procfile does (`npm run build` first);
   * otherwise the TypeScript source through tsx, whose loader and transpiled modules add memory.
   */
  compiled?: boolean;
}): ServiceProcess {
  const { name } = options;
  // One process per entry with the same tracing preload as the Procfile (a no-op without OTEL_*);
  // tsx resolves from cwd (the repository).
  const launch = options.compiled
    ? [
        '--import',
        './dist/lib/platform/tracing.js',
        `dist/${options.entry.replace(/\.ts$/, '.js')}`,
      ]
    : ['--import', 'tsx/esm', '--import', './lib/platform/tracing.ts', options.entry];
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), ...launch], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', options.stdoutIsLog === false ? 'ignore' : 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const counts = { warnings: 0, errors: 0 };
  let exitInfo: string | undefined;
  // Last resort: if the bench exits without stopping it (a crash), the child must not outlive it.
  const killOnExit = () => {
    if (exitInfo === undefined) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
      process.off('exit', killOnExit);
      resolve();
    });
    // A spawn failure emits 'error' and maybe no 'exit'.
    child.once('error', (err) => {
      exitInfo = `could not start: ${err.message}`;
      resolve();
    });
  });

  const take = (line: string) => {
    if (!line.trim()) return;
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
    let level = 50;
    try {
      level = (JSON.parse(line) as { level?: number }).level ?? 50;
    } catch {
      // Not a bunyan line: a crash or a stack trace; counted as an error.
    }
    if (level >= 50) counts.errors++;
    else if (level >= 40) counts.warnings++;
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', take);
  }

  return {
    name,
    pid: child.pid,
    get warnings() {
      return counts.warnings;
    },
    get errors() {
      return counts.errors;
    },
    get exited() {
      return exitInfo !== undefined;
    },
    tail: () => [...lines],
    async waitReady(url, timeoutMs, signal) {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        signal?.throwIfAborted();
        if (exitInfo !== undefined) {
          throw new Error(
            `${name} ${exitInfo} before it was ready; its last lines:\n  ${lines.join('\n  ')}`,
          );
        }
        try {
          const status = await getStatus(url, 1000);
          if (status === 200) return;
          last = `HTTP ${status}`;
        } catch (err) {
          last = (err as Error).message;
        }
        // Polling a readiness endpoint: the process tells us when it is ready, no guessed sleeps.
        await Promise.race([new Promise((r) => setTimeout(r, READY_POLL_MS)), exited]);
      }
      throw new Error(
        `${name} not ready within ${timeoutMs} ms (${url}: ${last}); its last lines:\n  ${lines.join('\n  ')}`,
      );
    },
    async stop(graceMs = 10_000) {
      if (exitInfo !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** GET that resolves with the status; the body is drained and the socket not kept. */
export function getStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('error', reject);
  });
}
