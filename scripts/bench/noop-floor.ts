/**
 * Target 2's yardstick: the CPU of a no-op BullMQ job, measured in the same run as the service so
 * that the machine, its load and the versions are the same. The jobs are copies of the run's own
 * outbox rows (so of the same size and spread over the queues the same way), added at the service's
 * job rate by the relay's enqueueRows in a child process (noop-worker.ts) that also runs the
 * workers, at the service's concurrency, on a BullMQ prefix of its own. The child's CPU per job is
 * the floor of the worker process's; Redis's CPU over the same time, per job, is shown beside it.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import type { NoopJobCpuMs } from './capacity.js';
import { cpuSince, cpuSnapshot, type CpuUsage } from './cpu.js';
import type { NoopDone, NoopGo, NoopMessage } from './noop-worker.js';

export interface NoopFloorOptions {
  repo: string;
  /** Environment of the child: PATH and the like (see system.ts baseEnv). */
  env: NodeJS.ProcessEnv;
  pool: pg.Pool;
  databaseUrl: string;
  redisUrl: string;
  /** A BullMQ prefix of its own: the service's workers must not take these jobs. */
  prefix: string;
  /** Orders whose outbox rows are copied. */
  orderIds: string[];
  jobsPerSecond: number;
  seconds: number;
  /** Seconds of the same load before measuring, for the JIT and connections to warm up. */
  warmupSeconds: number;
  tmpDir: string;
  signal?: AbortSignal;
  /** The bench database's name (see cpu.ts). */
  database?: string;
  /** The Redis server's process (see cpu.ts); undefined: every redis-server is counted. */
  redisPid?: number;
}

export interface NoopFloorResult {
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  /** Jobs per queue. */
  perQueue: Record<string, number>;
  cpuMsPerJob: NoopJobCpuMs;
  cpu: CpuUsage;
}

/** Bound on the child starting (tsx compiles it) and connecting. */
const READY_TIMEOUT_MS = 60_000;
/** Rows of this many orders are the jobs' pattern. */
const PATTERN_ORDERS = 100;

export async function runNoopFloor(options: NoopFloorOptions): Promise<NoopFloorResult> {
  const { rows } = await options.pool.query<{
    queue: string;
    eventType: string;
    orderId: string | null;
    idempotencyKey: string;
    payload: unknown;
  }>(
    `select queue, event_type as "eventType", order_id as "orderId",
            idempotency_key as "idempotencyKey", payload
     from outbox where order_id = any($1::uuid[]) order by id`,
    [options.orderIds.slice(0, PATTERN_ORDERS)],
  );
  if (!rows.length) throw new Error('no outbox rows to copy for the no-op jobs');
  const file = join(options.tmpDir, 'noop-jobs.json');
  await writeFile(file, JSON.stringify(rows));

  const child = spawn(process.execPath, ['--import', 'tsx/esm', 'scripts/bench/noop-worker.ts'], {
    cwd: options.repo,
    env: {
      ...options.env,
      NOOP_JOBS_FILE: file,
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
      BULLMQ_PREFIX: options.prefix,
      NOOP_JOBS_PER_SECOND: String(options.jobsPerSecond),
      NOOP_SECONDS: String(options.seconds),
      NOOP_WARMUP_SECONDS: String(options.warmupSeconds),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `code ${code}`)),
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  /** The next message of `type`; rejects on an error message, the child exiting, or the bound. */
  const next = <T extends NoopMessage['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<NoopMessage, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no-op floor: no ${type} within ${timeoutMs} ms\n${stderr}`)),
        timeoutMs,
      );
      const onMessage = (m: NoopMessage) => {
        if (m.type === 'error') {
          clearTimeout(timer);
          reject(new Error(`no-op floor: ${m.message}`));
        } else if (m.type === type) {
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(m as Extract<NoopMessage, { type: T }>);
        }
      };
      child.on('message', onMessage);
      void exited.then((how) => {
        clearTimeout(timer);
        reject(new Error(`no-op floor: the child exited (${how}) before ${type}\n${stderr}`));
      });
    });

  try {
    await next('ready', READY_TIMEOUT_MS + options.warmupSeconds * 1000);
    options.signal?.throwIfAborted();
    const pids = { noop: child.pid, redis: options.redisPid };
    // Postgres plays no part here: counted for its own database only, it stays out of the way.
    const before = cpuSnapshot(pids, options.database);
    const go: NoopGo = { type: 'go' };
    child.send(go);
    const done: NoopDone = await next('done', options.seconds * 1000 + 45_000);
    const cpu = cpuSince(before, cpuSnapshot(pids, options.database));
    const per = (ms: number | undefined) => (ms === undefined ? Number.NaN : ms / done.completed);
    return {
      jobs: done.completed,
      seconds: done.seconds,
      jobsPerSecond: done.completed / done.seconds,
      perQueue: done.perQueue,
      cpuMsPerJob: { node: per(cpu.parts.noop), redis: per(cpu.parts.redis) },
      cpu,
    };
  } finally {
    if (child.connected) child.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    process.off('exit', killOnExit);
  }
}
