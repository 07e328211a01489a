/**
 * `npm run bench:ceiling`: what one BullMQ queue on one Redis costs and carries at saturation, the
 * figure a capacity model needs to say when a queue outgrows a shard. Adds `--jobs` no-op jobs
 * with the service's job options (one queue, a prefix of its own), then lets `--processes` child
 * processes, each with a Worker of `--concurrency` whose processor does nothing, drain them as fast
 * as they can. Redis's CPU and its commands (Lua's included) are read over the drain.
 *
 * On this 2-core machine the workers and Redis compete for the cores, so the drain rate measured
 * is the machine's ceiling, not Redis's. Redis's own ceiling is then extrapolated from its CPU per
 * job (one core's worth of Redis time divided by the time a job costs it), and printed as such.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { defaultJobOptions } from '../../jobs/outbox/queues.js';
import { loadConfig } from '../../lib/platform/config.js';
import { redisServerPid } from './e2e.js';
import { sleep } from './stats.js';
import { parseCommandStats } from './store-counts.js';
import { REDIS_URL } from './system.js';

const QUEUE = 'ceiling';
const ADD_BATCH = 500;
/** A payload of the size of the service's outbox jobs (about 400 bytes of JSON). */
const PAYLOAD = { orderId: randomUUID(), rowId: 1, traceparent: null, data: 'x'.repeat(300) };

const USAGE = `npm run bench:ceiling -- [--jobs N] [--processes P] [--concurrency C] [--redis-url URL]
  --jobs         no-op jobs to add, then drain (default 20000)
  --processes    worker processes (default 2: one per core)
  --concurrency  each worker's concurrency (default 50)
  --redis-url    default BENCH_REDIS_URL, TEST_REDIS_URL or redis://127.0.0.1:6379`;

function redisCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function commandStats(redis: Redis): Promise<Record<string, number>> {
  return parseCommandStats(await redis.info('commandstats'));
}

/**
 * A worker process: connects, says `ready`, drains the queue from `go` (so that the drain is
 * measured from the moment every process starts taking jobs) until `stop`.
 */
async function child(redisUrl: string, prefix: string, concurrency: number): Promise<void> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker(QUEUE, async () => undefined, {
    connection,
    prefix,
    concurrency,
    autorun: false,
  });
  worker.on('error', (err) => process.stderr.write(`ceiling worker: ${err.message}\n`));
  await worker.waitUntilReady();
  process.on('message', (message: 'go' | 'stop') => {
    if (message === 'go') {
      worker.run().catch((err: Error) => process.stderr.write(`ceiling worker: ${err.message}\n`));
      return;
    }
    void worker.close().then(() => {
      connection.disconnect();
      process.exit(0);
    });
  });
  process.send?.('ready');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '20000' },
      processes: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '50' },
      'redis-url': { type: 'string', default: REDIS_URL },
      child: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const redisUrl = values['redis-url'];
  const concurrency = Number(values.concurrency);
  if (values.child) return child(redisUrl, values.child, concurrency);
  const jobs = Number(values.jobs);
  const processes = Number(values.processes);
  for (const [name, n] of Object.entries({ jobs, processes, concurrency })) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  }

  const progress = (what: string) => process.stderr.write(`ceiling: ${what}\n`);
  const prefix = `{bench-ceiling-${randomUUID().slice(0, 8)}}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const pid = await redisServerPid(redisUrl);
  if (pid === undefined) throw new Error(`cannot read the pid of the Redis at ${redisUrl}`);
  // The service's job options (retries, retention), from its configuration's defaults.
  const config = loadConfig({
    ...process.env,
    REDIS_URL: redisUrl,
    PAYMENTS_SERVICE_API_URL: 'http://127.0.0.1:1/',
    NOTIFICATIONS_SERVICE_API_URL: 'http://127.0.0.1:1/',
  });
  const queue = new Queue(QUEUE, {
    connection: redis.duplicate(),
    prefix,
    defaultJobOptions: defaultJobOptions(config.jobs),
  });
  const children: ChildProcess[] = [];
  try {
    progress(`adding ${jobs} jobs under ${prefix}`);
    let t = performance.now();
    let cpu = redisCpuMs(pid);
    let stats = await commandStats(redis);
    for (let added = 0; added < jobs; added += ADD_BATCH) {
      const n = Math.min(ADD_BATCH, jobs - added);
      await queue.addBulk(
        Array.from({ length: n }, (_, i) => ({
          name: 'noop',
          data: PAYLOAD,
          opts: { jobId: `j${added + i}` },
        })),
      );
    }
    const add = phase(jobs, t, cpu, stats, redisCpuMs(pid), await commandStats(redis));

    progress(`starting ${processes} worker process(es)`);
    for (let i = 0; i < processes; i++) {
      const c = fork(process.argv[1]!, ['--child', prefix, '--concurrency', String(concurrency)], {
        execArgv: process.execArgv,
        env: { ...process.env, REDIS_URL: redisUrl },
      });
      children.push(c);
      await new Promise<void>((resolve, reject) => {
        c.once('message', () => resolve());
        c.once('exit', (code) => reject(new Error(`worker process exited with ${code}`)));
      });
    }
    progress('draining');
    t = performance.now();
    cpu = redisCpuMs(pid);
    stats = await commandStats(redis);
    for (const c of children) c.send('go');
    for (;;) {
      const { completed = 0 } = await queue.getJobCounts('completed');
      if (completed >= jobs) break;
      await sleep(100);
    }
    const drain = phase(jobs, t, cpu, stats, redisCpuMs(pid), await commandStats(redis));

    const lines = [
      `One BullMQ queue on one Redis (${jobs} no-op jobs; ${processes} worker process(es) × concurrency ${concurrency}; the service's job options):`,
      `  add (addBulk of ${ADD_BATCH}): ${drainLine(add)}`,
      `  drain:                        ${drainLine(drain)}`,
      `  Redis ceiling, extrapolated from its CPU per job (added and done) on one core: ≈ ${Math.round(
        (1000 * jobs) / (add.redisMs + drain.redisMs),
      )} jobs/s`,
    ];
    console.log(lines.join('\n'));
  } finally {
    for (const c of children) c.send('stop');
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    await queue.obliterate({ force: true }).catch((err: Error) => {
      process.stderr.write(`ceiling: could not remove the queue ${prefix}: ${err.message}\n`);
    });
    await queue.close();
    redis.disconnect();
  }
}

interface Phase {
  seconds: number;
  perSecond: number;
  redisMs: number;
  redisBusy: number;
  commands: number;
  scriptCalls: number;
}

function phase(
  jobs: number,
  t0: number,
  cpu0: number,
  stats0: Record<string, number>,
  cpu1: number,
  stats1: Record<string, number>,
): Phase {
  const seconds = (performance.now() - t0) / 1000;
  let commands = 0;
  let scriptCalls = 0;
  for (const [command, n] of Object.entries(stats1)) {
    const d = n - (stats0[command] ?? 0);
    commands += d;
    if (command.startsWith('eval') || command.startsWith('fcall')) scriptCalls += d;
  }
  return {
    seconds,
    perSecond: jobs / seconds,
    redisMs: cpu1 - cpu0,
    redisBusy: (cpu1 - cpu0) / 1000 / seconds,
    commands,
    scriptCalls,
  };
}

function drainLine(p: Phase): string {
  return (
    `${Math.round(p.perSecond)} jobs/s over ${p.seconds.toFixed(1)} s; Redis ${((p.redisMs * 1000) / (p.perSecond * p.seconds)).toFixed(0)} µs CPU a job, ` +
    `busy ${(p.redisBusy * 100).toFixed(0)} % of a core, ${Math.round(p.commands / p.seconds)} commands/s ` +
    `(${(p.commands / (p.perSecond * p.seconds)).toFixed(1)} a job, ${(p.scriptCalls / (p.perSecond * p.seconds)).toFixed(2)} script calls a job)`
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
