/**
 * `npm run bench`: measures the service against its performance targets and prints the
 * figures beside them. A benchmark, not a test: a missed target is reported, not failed; the exit
 * code is non-zero only when something could not be measured (a process did not start, orders did
 * not arrive, a phase threw).
 *
 *   4. outbox commit → processor, and relay throughput, before the system starts (relay.ts);
 *   1. capacity: steady rates stepped up until one fails (p99, every order shipped, backlog);
 *   5. a burst at fixed concurrency, drained; then a sustained run at half the capacity, with the
 *      backlog and each process's memory sampled;
 *   2. CPU per order over the sustained run, each part's idle CPU, and the no-op BullMQ floor
 *      (noop-floor.ts);
 *   3. intake: the service against pgbench running the same statement.
 *
 * Everything runs on its own database, BullMQ prefixes, Kafka broker and peers, removed at the end,
 * on loopback only. See `--help`.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  capacityOf,
  efficiencyOf,
  judgeBacklog,
  parseSteps,
  stepFailures,
  stepUp,
  sustainedRate,
} from './capacity.js';
import {
  clockOffsetMs,
  redisServerPid,
  runBurst,
  runSteady,
  type E2EOptions,
  type E2ERun,
} from './e2e.js';
import { createCleanup } from './cleanup.js';
import { cpuSince, cpuSnapshot } from './cpu.js';
import { runIntake } from './intake.js';
import { runNoopFloor } from './noop-floor.js';
import { roundTripCounter } from './pg-round-trips.js';
import { runRelayBench } from './relay.js';
import { formatRuns, repeatRuns, summarizeRuns } from './runs.js';
import {
  formatJson,
  formatText,
  type BenchResults,
  type CapacityStep,
  type EfficiencyResults,
  type SustainedResults,
} from './report.js';
import { sendingPeriod, startSampler, waitIdle, type Samples } from './sampler.js';
import { sleep } from './stats.js';
import { baseEnv, prepareResources, REPO, startSystem, type RunningSystem } from './system.js';
import { deletePrefixKeys } from '../testkit/redis.js';

const HELP = `Usage: npm run bench -- [options]

  --quick            under 90 s: coarser, shorter steps and smaller runs (the default run takes
                     a few minutes)
  --json             print one JSON document instead of the table
  --json-file <path> also write the JSON document there (with the table printed), so one run
                     gives both
  --in-process       run the service with scripts/dev.ts's startDev in this process
                     (default: web, worker and consumer as separate processes)
  --steps <list>     capacity steps, orders per second, increasing (default 10,20,40,60,80,100,120,160;
                     quick 10,30,60,120); stepping stops after the first failing step
  --step-seconds <n> seconds each step sends for (default 10; quick 3)
  --burst <n>        orders in the burst (default 1000; quick 200)
  --burst-concurrency <n>  connections the burst keeps busy (default 32)
  --sustained-seconds <n>  seconds of the run at half the capacity (default 60; quick 8)
  --intake-seconds <n>  seconds per side per intake round (default 5, 2 rounds; quick 3, 1 round)
  --pool <n>         DB_POOL_MAX of the service, and the intake concurrency (default 10)
  --web <n>          web processes (default 1; not with --in-process); intake spreads its
                     connections over them
  --workers <n>      worker processes (default 1; not with --in-process), as worker dynos
                     scale out; each runs the relay and every queue's processors
  --profile          write V8 CPU profiles of the service processes (kept; the path is printed)
  --sources          run web, worker and consumer from the TypeScript sources through tsx
                     (default: \`npm run build\` first, then dist/ exactly as the Procfile runs it)
  --runs <n>         the whole benchmark n times, each in a process of its own, then every
                     target's figure per run with the median, min and max (the JSON gains
                     \`runs\`, \`figures\` and \`spread\`)
  --help

A step passes when every POST is answered 201, every order ships, POST → shipped p99 ≤ 250 ms and
the backlog (open outbox rows, sampled every 250 ms) does not grow while the step sends; the
capacity is the highest step passed. CPU per order and the worker's CPU per job come from the
sustained run, with each part's idle CPU (a few seconds of no load just before) beside them; the
no-op BullMQ floor copies that run's jobs and rate.

Postgres: TEST_DATABASE_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres); Redis: a
redis-server of the run's own on a free port (BENCH_REDIS_SERVER names the binary), so its counts
are the service's alone; BENCH_REDIS_URL names one instead, and without redis-server the run uses
TEST_REDIS_URL (redis://127.0.0.1:6379); pgbench: PGBENCH (pgbench on PATH).
DATABASE_PREPARED_STATEMENTS=false is passed to the service: what PgBouncer 1.18 makes an order cost.`;

/** How often the backlog and memory are sampled. */
const SAMPLE_MS = 250;

interface Plan {
  quick: boolean;
  json: boolean;
  jsonFile: string | undefined;
  inProcess: boolean;
  relaySamples: number;
  relayRows: number;
  relayBatchSizes: number[];
  warmupOrders: number;
  steps: number[];
  stepSeconds: number;
  /** Bound on a step's orders becoming final after its last POST. */
  stepSettleMs: number;
  /** Bound on the system draining (no open outbox row) between phases. */
  idleTimeoutMs: number;
  burst: number;
  burstConcurrency: number;
  burstSettleMs: number;
  sustainedSeconds: number;
  noopSeconds: number;
  noopWarmupSeconds: number;
  /** Seconds of no load over which each part's idle CPU is measured. */
  idleSeconds: number;
  intakeSeconds: number;
  intakeRounds: number;
  diagnosticSeconds: number;
  pool: number;
  profile: boolean;
  sources: boolean;
  webProcesses: number;
  workerProcesses: number;
}

function positive(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new Error(`--${name} must be a whole number from 1 to ${max}, got ${text}`);
  }
  return n;
}

function plan(argv: string[]): Plan | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'json-file': { type: 'string' },
      'in-process': { type: 'boolean', default: false },
      steps: { type: 'string' },
      'step-seconds': { type: 'string' },
      burst: { type: 'string' },
      'burst-concurrency': { type: 'string' },
      'sustained-seconds': { type: 'string' },
      'intake-seconds': { type: 'string' },
      pool: { type: 'string' },
      profile: { type: 'boolean', default: false },
      sources: { type: 'boolean', default: false },
      web: { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const quick = values.quick;
  return {
    quick,
    json: values.json,
    jsonFile: values['json-file'],
    inProcess: values['in-process'],
    relaySamples: quick ? 100 : 300,
    relayRows: quick ? 5000 : 20_000,
    relayBatchSizes: [500, 1000],
    // Enough for the JIT and every connection (Kafka metadata, pools) to be warm in each process.
    warmupOrders: 20,
    steps: values.steps
      ? parseSteps(values.steps)
      : quick
        ? [10, 30, 60, 120]
        : [10, 20, 40, 60, 80, 100, 120, 160],
    stepSeconds: positive('step-seconds', values['step-seconds'], quick ? 3 : 10, 300),
    stepSettleMs: quick ? 5000 : 10_000,
    idleTimeoutMs: quick ? 20_000 : 60_000,
    burst: positive('burst', values.burst, quick ? 200 : 1000, 10_000),
    burstConcurrency: positive('burst-concurrency', values['burst-concurrency'], 32, 256),
    burstSettleMs: quick ? 45_000 : 120_000,
    sustainedSeconds: positive(
      'sustained-seconds',
      values['sustained-seconds'],
      quick ? 8 : 60,
      3600,
    ),
    noopSeconds: quick ? 4 : 10,
    noopWarmupSeconds: quick ? 3 : 5,
    idleSeconds: quick ? 2 : 5,
    intakeSeconds: positive('intake-seconds', values['intake-seconds'], quick ? 3 : 5, 60),
    intakeRounds: quick ? 1 : 2,
    diagnosticSeconds: quick ? 0 : 4,
    pool: positive('pool', values.pool, 10, 100),
    profile: values.profile,
    sources: values.sources,
    webProcesses: positive('web', values.web, 1, 8),
    workerProcesses: positive('workers', values.workers, 1, 8),
  };
}

function commit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout: the report goes without it.
    return undefined;
  }
}

/** What the run cost the stores per created order (undefined where uncounted). */
function perOrder(
  run: E2ERun,
): Pick<EfficiencyResults, 'redisCommandsPerOrder' | 'pgRoundTripsPerOrder'> {
  const n = Math.max(1, run.created);
  const trips = run.stores?.pgRoundTrips;
  return {
    redisCommandsPerOrder: run.stores ? run.stores.redisCommands / n : undefined,
    pgRoundTripsPerOrder: trips === undefined ? undefined : trips / n,
  };
}

/** `--runs n` (n > 1): the other options, run n times by repeatRuns. */
async function mainRuns(argv: string[]): Promise<number | undefined> {
  const { values, tokens } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      json: { type: 'boolean' },
      'json-file': { type: 'string' },
    },
    strict: false,
    tokens: true,
  });
  if (values.runs === undefined) return undefined;
  const runs = positive('runs', values.runs as string, 1, 20);
  const drop = new Set(['runs', 'json', 'json-file']);
  const rest: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'option' && drop.has(t.name)) continue;
    if (t.kind === 'option')
      rest.push(t.rawName, ...(t.value === undefined || t.inlineValue ? [] : [t.value]));
    else if (t.kind === 'positional') rest.push(t.value);
  }
  const dir = await mkdtemp(join(os.tmpdir(), 'order-bench-runs-'));
  const asJson = values.json === true;
  const results = await repeatRuns(
    runs,
    rest,
    dir,
    asJson ? process.stderr : process.stdout,
    (line) => process.stderr.write(`· ${line}\n`),
  );
  const summary = summarizeRuns(results);
  const file = values['json-file'];
  if (typeof file === 'string') writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${asJson ? JSON.stringify(summary, null, 2) : formatRuns(summary)}\n`);
  return results.some((r) => r.errors.length) ? 1 : 0;
}

async function main(): Promise<number> {
  const repeated = await mainRuns(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  });
  if (repeated !== undefined) return repeated;
  let p: Plan | undefined;
  try {
    p = plan(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (!p) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const progress = (line: string) => process.stderr.write(`· ${line}\n`);
  const cleanup = createCleanup((line) => process.stderr.write(`${line}\n`));
  const t0 = performance.now();
  const results: BenchResults = {
    meta: {
      startedAt: new Date().toISOString(),
      mode: p.inProcess ? 'in-process' : 'processes',
      quick: p.quick,
      cpus: os.cpus().length,
      loadAverageBefore: os.loadavg(),
      node: process.versions.node,
      commit: commit(),
      poolSize: p.pool,
      processes: p.inProcess ? undefined : { web: p.webProcesses, worker: p.workerProcesses },
    },
    errors: [],
  };
  let system: RunningSystem | undefined;
  try {
    progress('creating the bench database, BullMQ prefix and temporary directory');
    const resources = await prepareResources(cleanup);
    const { pool } = resources.database;
    const version = await pool.query<{ v: string }>(`select split_part(version(), ' on ', 1) as v`);
    results.meta.postgres = version.rows[0]?.v;
    results.meta.clockOffsetMs = await clockOffsetMs(pool);

    progress(
      `4. relay: ${p.relaySamples} rows one at a time, then ${p.relayRows} rows per batch size`,
    );
    results.relay = await runRelayBench({
      database: resources.database,
      redis: resources.redis,
      samples: p.relaySamples,
      rows: p.relayRows,
      batchSizes: p.relayBatchSizes,
      signal: cleanup.signal,
    });
    await pool.query('truncate outbox');
    await resources.redis.flush();

    if (p.profile && !p.inProcess) {
      results.meta.profileDir = await mkdtemp(join(os.tmpdir(), 'order-bench-profiles-'));
    }
    const compiled = !p.inProcess && !p.sources;
    if (compiled) {
      progress('building dist/ (npm run build), which the service processes run, as in production');
      execFileSync('npm', ['run', '-s', 'build'], {
        cwd: REPO,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
    results.meta.build = compiled ? 'compiled (dist/, as the Procfile)' : 'sources (tsx)';
    progress(`starting the system (${results.meta.mode})`);
    system = await startSystem(
      resources,
      {
        inProcess: p.inProcess,
        poolSize: p.pool,
        signal: cleanup.signal,
        progress,
        profileDir: results.meta.profileDir,
        webProcesses: p.webProcesses,
        workerProcesses: p.workerProcesses,
        compiled,
        roundTrips: roundTripCounter(resources.tmpDir),
      },
      cleanup,
    );
    // Redis is loopback (asserted), so the pid it reports is a process here.
    const redisPid = await redisServerPid(resources.redis.url);
    const e2e: E2EOptions = {
      apiUrl: system.apiUrl,
      pool,
      signal: cleanup.signal,
      settleTimeoutMs: p.stepSettleMs,
      pids: { ...system.pids(), redis: redisPid },
      redisUrl: resources.redis.url,
      database: resources.database.name,
      pgRoundTrips: system.pgRoundTrips,
    };
    const notes: string[] = [];
    results.meta.notes = notes;
    const running = system;
    const servicePids = (): Record<string, number | undefined> =>
      running.mode === 'in-process'
        ? { 'in-process (bench and service)': process.pid }
        : Object.fromEntries(Object.entries(running.pids()).filter(([name]) => name !== 'catalog'));
    /** Runs `load` with the backlog and memory sampled throughout. */
    const sampled = async (load: () => Promise<E2ERun>): Promise<[E2ERun, Samples]> => {
      const sampler = startSampler({
        pool,
        redisUrl: resources.redis.url,
        prefix: resources.redis.prefix,
        pids: servicePids(),
        intervalMs: SAMPLE_MS,
      });
      let run: E2ERun;
      try {
        run = await load();
      } catch (err) {
        // Stopped either way, so its connection never outlives a failed run.
        await sampler.stop().catch(() => undefined);
        throw err;
      }
      return [run, await sampler.stop()];
    };
    const settle = async (after: string): Promise<boolean> => {
      const idle = await waitIdle(pool, p.idleTimeoutMs, cleanup.signal);
      if (!idle) {
        notes.push(
          `${after}: orders or outbox rows still open ${p.idleTimeoutMs / 1000} s later; went on`,
        );
      }
      return idle;
    };

    progress(`warming up with ${p.warmupOrders} orders`);
    const warm = await runSteady(
      { ...e2e, settleTimeoutMs: 30_000 },
      'warm-up',
      p.warmupOrders,
      10,
    );
    if (warm.shipped !== warm.orders) {
      throw new Error(
        `warm-up: only ${warm.shipped} of ${warm.orders} orders reached shipped ` +
          `(${warm.postFailures} POSTs failed: ${warm.postFailureSamples.join('; ') || 'none'}); ` +
          'the system is not working end to end',
      );
    }
    await settle('warm-up');

    results.e2e = { steps: [] };
    const steps: CapacityStep[] = await stepUp(
      p.steps,
      async (rate) => {
        progress(`1. capacity: ${rate} orders/s for ${p.stepSeconds} s`);
        const [run, samples] = await sampled(() =>
          runSteady(e2e, `step ${rate}/s`, rate * p.stepSeconds, rate),
        );
        results.e2e!.steps!.push(run);
        const sending = sendingPeriod(samples.backlog, run.sendSeconds);
        const backlog = judgeBacklog(sending.map((x) => x.outboxOpen));
        const failures = stepFailures({ ...run, p99: run.latency.p99 }, backlog);
        // The next step starts from an idle system; one that does not get there has not coped.
        if (!(await settle(`step ${rate}/s`)) && failures.length === 0) {
          failures.push(`orders or outbox rows still open ${p.idleTimeoutMs / 1000} s after`);
        }
        const waiting = sending.flatMap((x) =>
          x.jobsWaiting === undefined ? [] : [x.jobsWaiting],
        );
        return {
          rate,
          orders: run.orders,
          p50: run.latency.p50,
          p99: run.latency.p99,
          backlog: backlog.max,
          jobsWaiting: waiting.length ? Math.max(...waiting) : undefined,
          bounded: backlog.bounded,
          passed: failures.length === 0,
          failures,
        };
      },
      cleanup.signal,
    );
    const capacity = capacityOf(steps);
    results.capacity = { ordersPerSecond: capacity, steps, stepSeconds: p.stepSeconds };

    progress(`5. burst: ${p.burst} orders over ${p.burstConcurrency} connections`);
    const burst = await runBurst(
      { ...e2e, settleTimeoutMs: p.burstSettleMs },
      `burst of ${p.burst} at concurrency ${p.burstConcurrency}`,
      p.burst,
      p.burstConcurrency,
    );
    results.e2e.burst = burst;
    results.burst = {
      orders: burst.orders,
      concurrency: p.burstConcurrency,
      failures: burst.postFailures,
      unfinished: burst.unfinished,
      drainSeconds: burst.unfinished === 0 ? burst.seconds : null,
      p50: burst.latency.p50,
      p99: burst.latency.p99,
    };
    await settle('burst');

    // What each part costs with no orders at all (timers, polls, heartbeats, and on a shared
    // machine other clients of Postgres and Redis): at a low rate it weighs on CPU per order.
    progress(`2. idle CPU: ${p.idleSeconds} s with no load`);
    const idleBefore = cpuSnapshot(e2e.pids, e2e.database);
    await sleep(p.idleSeconds * 1000);
    const idle = cpuSince(idleBefore, cpuSnapshot(e2e.pids, e2e.database));
    const idleCpuMsPerSecond = Object.fromEntries(
      Object.entries(idle.parts).map(([name, ms]) => [name, ms / idle.seconds]),
    );

    const rate = sustainedRate(capacity, p.steps);
    if (capacity === 0) {
      notes.push(
        `no capacity step passed: the sustained run used half the lowest step (${rate}/s)`,
      );
    }
    progress(`5. sustained: ${rate} orders/s for ${p.sustainedSeconds} s`);
    const [sustainedRun, sustainedSamples] = await sampled(() =>
      runSteady(
        { ...e2e, settleTimeoutMs: 30_000 },
        `sustained ${rate}/s`,
        rate * p.sustainedSeconds,
        rate,
      ),
    );
    results.e2e.sustained = sustainedRun;
    const sending = sendingPeriod(sustainedSamples.backlog, sustainedRun.sendSeconds);
    const sustainedBacklog = judgeBacklog(sending.map((x) => x.outboxOpen));
    const waiting = sending.flatMap((x) => (x.jobsWaiting === undefined ? [] : [x.jobsWaiting]));
    const sustained: SustainedResults = {
      rate,
      seconds: p.sustainedSeconds,
      orders: sustainedRun.orders,
      failures: sustainedRun.postFailures,
      unfinished: sustainedRun.unfinished,
      p50: sustainedRun.latency.p50,
      p99: sustainedRun.latency.p99,
      maxBacklog: sustainedBacklog.max,
      maxJobsWaiting: waiting.length ? Math.max(...waiting) : undefined,
      bounded: sustainedBacklog.bounded,
      peakRssMb: sustainedSamples.peakRssMb,
      startRssMb: sustainedSamples.firstRssMb,
    };
    results.sustained = sustained;
    await settle('sustained run');

    // 2. Efficiency over the sustained run: its jobs are its orders' outbox rows that were handed
    // to BullMQ (a payment check completed before it fell due never was).
    const jobs = await pool.query<{ n: number }>(
      'select count(*)::int as n from outbox where order_id = any($1::uuid[]) and dispatched_at is not null',
      [sustainedRun.orderIds],
    );
    const jobCount = jobs.rows[0]!.n;
    const partsCpu = sustainedRun.cpu.parts;
    results.efficiency = {
      ...efficiencyOf(partsCpu, sustainedRun.created, jobCount),
      run: `sustained run (${rate}/s)`,
      idleCpuMsPerSecond,
      redisCpuMsPerJob:
        partsCpu.redis !== undefined && jobCount ? partsCpu.redis / jobCount : undefined,
      ...perOrder(sustainedRun),
    };
    const noopPrefix = `${resources.redis.prefix.slice(0, -1)}-noop}`;
    cleanup.add(`Redis keys ${noopPrefix}:*`, () =>
      deletePrefixKeys(noopPrefix, resources.redis.url),
    );
    const jobsPerSecond = rate * (jobCount / Math.max(1, sustainedRun.created));
    progress(`2. no-op BullMQ floor: ${jobsPerSecond.toFixed(0)} jobs/s for ${p.noopSeconds} s`);
    try {
      const floor = await runNoopFloor({
        repo: REPO,
        env: baseEnv(),
        pool,
        databaseUrl: resources.database.url,
        redisUrl: resources.redis.url,
        prefix: noopPrefix,
        orderIds: sustainedRun.orderIds,
        jobsPerSecond,
        seconds: p.noopSeconds,
        warmupSeconds: p.noopWarmupSeconds,
        tmpDir: resources.tmpDir,
        signal: cleanup.signal,
        redisPid,
        database: resources.database.name,
      });
      results.efficiency = {
        ...results.efficiency,
        ...efficiencyOf(partsCpu, sustainedRun.created, jobCount, floor.cpuMsPerJob),
        noopFloor: {
          jobs: floor.jobs,
          seconds: floor.seconds,
          jobsPerSecond: floor.jobsPerSecond,
          perQueue: floor.perQueue,
        },
      };
    } catch (err) {
      if (cleanup.signal.aborted) throw err;
      results.errors.push(`no-op floor: ${(err as Error).message}`);
    }

    progress('3. intake: stopping the worker and consumer');
    results.meta.intakeNote = await system.quiesce();
    progress(
      `3. intake: pgbench and POSTs, ${p.intakeRounds} round(s) of ${p.intakeSeconds} s each` +
        (p.diagnosticSeconds ? ', then two diagnostic pgbench runs' : ''),
    );
    results.intake = await runIntake({
      apiUrls: system.apiUrls,
      pool,
      databaseUrl: resources.database.url,
      concurrency: p.pool,
      seconds: p.intakeSeconds,
      rounds: p.intakeRounds,
      diagnosticSeconds: p.diagnosticSeconds,
      tmpDir: resources.tmpDir,
      signal: cleanup.signal,
      pids: { ...system.pids(), redis: redisPid },
    });
    if (results.intake.service.failures || results.intake.postgres.failures) {
      results.errors.push(
        `intake: ${results.intake.service.failures} POSTs and ${results.intake.postgres.failures} ` +
          `pgbench transactions failed (${[
            ...results.intake.service.failureSamples,
            ...results.intake.postgres.failureSamples,
          ].join('; ')})`,
      );
    }
  } catch (err) {
    if (!cleanup.signal.aborted) results.errors.push((err as Error).stack ?? String(err));
  } finally {
    results.logs = system?.logs();
    progress('cleaning up');
    const failures = await cleanup.run();
    results.errors.push(...failures.map((f) => `cleanup: ${f}`));
  }
  if (cleanup.signal.aborted) return 130;
  results.meta.loadAverageAfter = os.loadavg();
  results.meta.seconds = (performance.now() - t0) / 1000;
  if (p.jsonFile) writeFileSync(p.jsonFile, `${formatJson(results)}\n`);
  process.stdout.write(`${p.json ? formatJson(results) : formatText(results)}\n`);
  return results.errors.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
