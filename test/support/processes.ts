import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from '../../scripts/testkit/wait.js';

/** A service process started from its entry file, and what it wrote (stdout and stderr) so far. */
export interface EntryProcess {
  child: ChildProcess;
  out: { text: string };
}

export interface SpawnEntryOptions {
  /** What its output shows once it is ready (a log line's message, or a pattern). */
  ready: string | RegExp;
  /** Each process started is added here and leaves on exit, for an `after` hook to kill. */
  children?: Set<ChildProcess>;
  /** @defaultValue 30000 */
  timeoutMs?: number;
  /** @defaultValue `${entry} ready` */
  what?: string;
}

/**
 * Starts a service entry file (`jobs/worker.ts`, …) as its own process, as the platform does, with
 * `env` laid over this process's environment. Resolves once its output shows `ready`; when it
 * exits first or is not ready in time, it is killed and this rejects with its output's tail.
 */
export async function spawnEntry(
  entry: string,
  env: Record<string, string | undefined>,
  { ready, children, timeoutMs = 30000, what = `${entry} ready` }: SpawnEntryOptions,
): Promise<EntryProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (children) {
    children.add(child);
    child.on('exit', () => children.delete(child));
  }
  const out = { text: '' };
  child.stdout!.on('data', (c: Buffer) => (out.text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out.text += c.toString()));
  const isReady = () =>
    typeof ready === 'string' ? out.text.includes(ready) : ready.test(out.text);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitFor(() => isReady() || exited(), { timeoutMs, intervalMs: 50, what });
    if (!isReady()) {
      throw new Error(`${what}: it exited first (${child.exitCode ?? child.signalCode})`);
    }
  } catch (err) {
    if (!exited()) child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${out.text.slice(-3000)}`, { cause: err });
  }
  return { child, out };
}
