/**
 * `npm run bench`: measures the service against its performance targets and prints the figures
 * beside them. A benchmark, not a test: a missed target is reported, not failed; the exit code is
 * non-zero only when something could not be measured (a process did not start, orders did not
 * arrive, a phase threw).
 *
 *   1. POST → shipped latency through the running system (steady rate, then a burst);
 *   2. outbox commit → job start, and 3. relay throughput (scripts/bench/relay.ts);
 *   4. intake: the service against pgbench running the same statement.
 *
 * Everything runs on its own database, BullMQ prefix, Kafka broker and peers, removed at the end,
 * on loopback only. See `--help`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clockOffsetMs, runBurst, runSteady, type E2EOptions } from './bench/e2e.js';
import { createCleanup } from './bench/cleanup.js';
import { runIntake } from './bench/intake.js';
import { runRelayBench } from './bench/relay.js';
import { formatJson, formatText, type BenchResults } from './bench/report.js';
import { prepareResources, startSystem, type RunningSystem } from './bench/system.js';

const HELP = `Usage: npm run bench -- [options]

  --quick            a ~20 s run with smaller samples (the default run takes about a minute)
  --json             print one JSON document instead of the table
  --in-process       run the service with scripts/dev.ts's startDev in this process
                     (default: web, worker and consumer as separate processes)
  --orders <n>       orders in the steady end-to-end run (default 200; quick 60)
  --rate <n>         their rate per second (default 20)
  --burst <n>        orders sent at once in the burst run (default 50; quick 20)
  --intake-seconds <n>  seconds per side per intake round (default 5, 2 rounds; quick 3, 1 round)
  --pool <n>         DB_POOL_MAX of the service, and the intake concurrency (default 10)
  --web <n>          web processes (default 1; not with --in-process); intake spreads its
                     connections over them
  --profile          write V8 CPU profiles of the service processes (kept; the path is printed)
  --help

Postgres: TEST_DATABASE_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres); Redis:
BENCH_REDIS_URL or TEST_REDIS_URL (redis://127.0.0.1:6379); pgbench: PGBENCH (pgbench on PATH).`;

interface Plan {
  quick: boolean;
  json: boolean;
  inProcess: boolean;
  relaySamples: number;
  relayRows: number;
  relayBatchSizes: number[];
  warmupOrders: number;
  orders: number;
  rate: number;
  burst: number;
  intakeSeconds: number;
  intakeRounds: number;
  diagnosticSeconds: number;
  pool: number;
  settleTimeoutMs: number;
  profile: boolean;
  webProcesses: number;
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
      'in-process': { type: 'boolean', default: false },
      orders: { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      'intake-seconds': { type: 'string' },
      pool: { type: 'string' },
      profile: { type: 'boolean', default: false },
      web: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const quick = values.quick;
  return {
    quick,
    json: values.json,
    inProcess: values['in-process'],
    relaySamples: quick ? 100 : 300,
    relayRows: quick ? 5000 : 20_000,
    relayBatchSizes: [500, 1000],
    // Enough for the JIT and every connection (Kafka metadata, pools) to be warm in each process.
    warmupOrders: 20,
    orders: positive('orders', values.orders, quick ? 60 : 200, 5000),
    rate: positive('rate', values.rate, 20, 500),
    burst: positive('burst', values.burst, quick ? 20 : 50, 500),
    intakeSeconds: positive('intake-seconds', values['intake-seconds'], quick ? 3 : 5, 60),
    intakeRounds: quick ? 1 : 2,
    diagnosticSeconds: quick ? 0 : 4,
    pool: positive('pool', values.pool, 10, 100),
    settleTimeoutMs: 30_000,
    profile: values.profile,
    webProcesses: positive('web', values.web, 1, 8),
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

async function main(): Promise<number> {
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
      `2–3. relay: ${p.relaySamples} rows one at a time, then ${p.relayRows} rows per batch size`,
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
      },
      cleanup,
    );
    const e2e: E2EOptions = {
      apiUrl: system.apiUrl,
      pool,
      signal: cleanup.signal,
      settleTimeoutMs: p.settleTimeoutMs,
      pids: system.pids(),
      redisUrl: resources.redis.url,
    };
    progress(`warming up with ${p.warmupOrders} orders`);
    const warm = await runSteady(e2e, 'warm-up', p.warmupOrders, p.rate);
    if (warm.shipped !== warm.orders) {
      throw new Error(
        `warm-up: only ${warm.shipped} of ${warm.orders} orders reached shipped ` +
          `(${warm.postFailures} POSTs failed: ${warm.postFailureSamples.join('; ') || 'none'}); ` +
          'the system is not working end to end',
      );
    }
    results.e2e = {};
    progress(`1. end to end: ${p.orders} orders at ${p.rate}/s`);
    results.e2e.steady = await runSteady(e2e, `steady ${p.rate}/s`, p.orders, p.rate);
    progress(`1. end to end: a burst of ${p.burst} at once`);
    results.e2e.burst = await runBurst(e2e, `burst of ${p.burst}`, p.burst);
    for (const run of [results.e2e.steady, results.e2e.burst]) {
      if (run.unfinished || run.postFailures || run.cancelled) {
        results.errors.push(
          `${run.label}: ${run.postFailures} POSTs failed, ${run.cancelled} cancelled, ` +
            `${run.unfinished} not final within ${p.settleTimeoutMs / 1000} s`,
        );
      }
    }

    progress('4. intake: stopping the worker and consumer');
    results.meta.intakeNote = await system.quiesce();
    progress(
      `4. intake: pgbench and POSTs, ${p.intakeRounds} round(s) of ${p.intakeSeconds} s each` +
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
      pids: system.pids(),
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
