/**
 * Target 4: intake, the service against Postgres alone, for the same transaction.
 *   (a) pgbench runs the intake statement of db/orders.ts (see intake-statement.ts) with as many
 *       clients as the web process has pool connections, over the extended protocol with an
 *       unnamed statement, as node-postgres sends it (parse, bind, execute every time);
 *   (b) the bench POSTs orders to the web process over as many keep-alive connections.
 * The two alternate in rounds, each started from empty tables after a CHECKPOINT, so drift on a
 * shared machine (and checkpoints) land on both sides alike. The caller makes sure the worker and
 * consumer are not running, so the web process and Postgres do intake alone.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { cpuSince, cpuSnapshot, type CpuUsage } from './cpu.js';
import { keepAliveAgent, newOrderRequest, postOrder } from './http-client.js';
import { pgbenchScript } from './intake-statement.js';
import { summarize, type Summary } from './stats.js';

export interface IntakeOptions {
  /** The web processes; connection i goes to apiUrls[i % n]. */
  apiUrls: string[];
  /** The bench database; pool for TRUNCATE and CHECKPOINT. */
  pool: pg.Pool;
  databaseUrl: string;
  /** Clients and connections: the web process's pool size. */
  concurrency: number;
  /** Seconds per side per round. */
  seconds: number;
  rounds: number;
  /** Seconds of each diagnostic pgbench run (see DIAGNOSTICS); 0 skips them. */
  diagnosticSeconds: number;
  tmpDir: string;
  signal?: AbortSignal;
  /** The service's process ids, for CPU accounting. */
  pids: Record<string, number | undefined>;
}

export interface ThroughputRun {
  /** Transactions (pgbench) or orders created (HTTP) per second. */
  perSecond: number;
  count: number;
  seconds: number;
  latency: Summary;
  /** Failed transactions, or answers other than 201. */
  failures: number;
  failureSamples: string[];
  /** CPU used during the run (pgbench's own time is not counted: it is not a service part). */
  cpu?: CpuUsage;
}

export interface IntakeResults {
  concurrency: number;
  webProcesses: number;
  postgres: ThroughputRun;
  service: ThroughputRun;
  /** service / postgres. */
  ratio: number;
  rounds: { postgres: number; service: number }[];
  /** pgbench variants that tell what the statement's parts and the protocol cost. */
  diagnostics: { label: string; run: ThroughputRun }[];
}

/** Diagnostic pgbench runs: what Postgres would allow if the service sent the statement otherwise. */
const DIAGNOSTICS = [
  {
    label: 'pgbench, the statement without its pg_notify',
    withoutNotify: true,
    protocol: 'extended',
  },
  {
    label: 'pgbench, the statement as a named prepared statement',
    withoutNotify: false,
    protocol: 'prepared',
  },
] as const;

export const PGBENCH = process.env.PGBENCH ?? 'pgbench';

/** Every run starts from empty tables and a fresh checkpoint. */
async function resetTables(pool: pg.Pool): Promise<void> {
  await pool.query('truncate orders, order_status_history, outbox, inbox, dead_letters');
  await pool.query('checkpoint');
}

export async function runIntake(options: IntakeOptions): Promise<IntakeResults> {
  const script = join(options.tmpDir, 'intake.sql');
  await writeFile(script, await pgbenchScript());
  const pgbenchRuns: ThroughputRun[] = [];
  const serviceRuns: ThroughputRun[] = [];
  for (let round = 0; round < options.rounds; round++) {
    options.signal?.throwIfAborted();
    await resetTables(options.pool);
    pgbenchRuns.push(await runPgbench(options, script, options.seconds, `r${round}`));
    options.signal?.throwIfAborted();
    await resetTables(options.pool);
    serviceRuns.push(await runHttpIntake(options));
  }
  const diagnostics: IntakeResults['diagnostics'] = [];
  for (const [n, d] of (options.diagnosticSeconds > 0 ? DIAGNOSTICS : []).entries()) {
    options.signal?.throwIfAborted();
    const file = join(options.tmpDir, `intake-diagnostic-${n}.sql`);
    await writeFile(file, await pgbenchScript({ withoutNotify: d.withoutNotify }));
    await resetTables(options.pool);
    diagnostics.push({
      label: d.label,
      run: await runPgbench(options, file, options.diagnosticSeconds, `d${n}`, d.protocol),
    });
  }
  await resetTables(options.pool);
  const postgres = combine(pgbenchRuns);
  const service = combine(serviceRuns);
  return {
    concurrency: options.concurrency,
    webProcesses: options.apiUrls.length,
    postgres,
    service,
    ratio: service.perSecond / postgres.perSecond,
    rounds: pgbenchRuns.map((p, i) => ({
      postgres: p.perSecond,
      service: serviceRuns[i]!.perSecond,
    })),
    diagnostics,
  };
}

/** Rounds added up: total count over total time; latencies over every sample. */
function combine(runs: ThroughputRun[]): ThroughputRun {
  const count = runs.reduce((s, r) => s + r.count, 0);
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  const latencies = runs.flatMap((r) => latencySamples.get(r) ?? []);
  return {
    perSecond: count / seconds,
    count,
    seconds,
    latency: summarize(latencies),
    failures: runs.reduce((s, r) => s + r.failures, 0),
    failureSamples: runs.flatMap((r) => r.failureSamples).slice(0, 3),
    cpu: addCpu(runs.flatMap((r) => (r.cpu ? [r.cpu] : []))),
  };
}

function addCpu(usages: CpuUsage[]): CpuUsage | undefined {
  if (!usages.length) return undefined;
  const parts: Record<string, number> = {};
  for (const u of usages) {
    for (const [name, ms] of Object.entries(u.parts)) parts[name] = (parts[name] ?? 0) + ms;
  }
  const seconds = usages.reduce((s, u) => s + u.seconds, 0);
  const weighted = (share: (u: CpuUsage) => number | undefined) =>
    usages.every((u) => share(u) !== undefined)
      ? usages.reduce((s, u) => s + share(u)! * u.seconds, 0) / seconds
      : undefined;
  return {
    seconds,
    parts,
    machineBusy: weighted((u) => u.machineBusy),
    machineSteal: weighted((u) => u.machineSteal),
  };
}

/** Raw latencies per run, kept aside so results stay small for --json. */
const latencySamples = new WeakMap<ThroughputRun, number[]>();

async function runPgbench(
  options: IntakeOptions,
  script: string,
  seconds: number,
  tag: string,
  protocol: 'extended' | 'prepared' = 'extended',
): Promise<ThroughputRun> {
  const url = new URL(options.databaseUrl);
  const logPrefix = join(options.tmpDir, `pgbench-${tag}`);
  const args = [
    '--no-vacuum',
    `--protocol=${protocol}`,
    `--client=${options.concurrency}`,
    `--jobs=${Math.min(options.concurrency, 2)}`,
    `--time=${seconds}`,
    `--file=${script}`,
    '--log',
    `--log-prefix=${logPrefix}`,
    `--host=${url.hostname}`,
    `--port=${url.port || '5432'}`,
    `--username=${decodeURIComponent(url.username || 'postgres')}`,
    decodeURIComponent(url.pathname.slice(1)),
  ];
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) };
  const before = cpuSnapshot(options.pids);
  const { code, stdout, stderr } = await run(
    PGBENCH,
    args,
    env,
    (seconds + 30) * 1000,
    options.signal,
  );
  const cpu = cpuSince(before, cpuSnapshot(options.pids));
  if (code !== 0) {
    throw new Error(`pgbench exited with ${code}:\n${stderr.trim() || stdout.trim()}`);
  }
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!tps || !processed) throw new Error(`could not read pgbench's output:\n${stdout}`);
  // Per-transaction log lines: client, transaction no, latency in µs, script, epoch s, µs.
  const latencies: number[] = [];
  const dir = options.tmpDir;
  for (const file of await readdir(dir)) {
    if (!file.startsWith(`pgbench-${tag}.`)) continue;
    const text = await readFile(join(dir, file), 'utf8');
    for (const line of text.split('\n')) {
      const fields = line.split(' ');
      if (fields.length >= 3) latencies.push(Number(fields[2]) / 1000);
    }
    await rm(join(dir, file));
  }
  const count = Number(processed[1]);
  const result: ThroughputRun = {
    perSecond: Number(tps[1]),
    count,
    seconds: count / Number(tps[1]),
    latency: summarize(latencies),
    failures: failed ? Number(failed[1]) : 0,
    failureSamples: stderr.trim() ? [stderr.trim().split('\n')[0]!] : [],
    cpu,
  };
  latencySamples.set(result, latencies);
  return result;
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The signal kills it on Ctrl-C, before the database it is connected to is dropped.
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Closed loop: `concurrency` connections, each POSTing the next order as soon as one is answered. */
async function runHttpIntake(options: IntakeOptions): Promise<ThroughputRun> {
  const agent = keepAliveAgent(options.concurrency);
  // Bounded by count as well as time: far above what 2 cores can do in the time given.
  const maxRequests = options.seconds * 20_000;
  const latencies: number[] = [];
  const failureSamples: string[] = [];
  let failures = 0;
  let issued = 0;
  try {
    // A few orders first, so every connection is open and the web process has warmed up.
    const urlOf = (connection: number) => options.apiUrls[connection % options.apiUrls.length]!;
    await Promise.all(
      Array.from({ length: options.concurrency }, (_, i) =>
        postOrder(agent, urlOf(i), newOrderRequest(i)),
      ),
    );
    await resetTables(options.pool);
    const before = cpuSnapshot(options.pids);
    const t0 = performance.now();
    const deadline = t0 + options.seconds * 1000;
    const loop = async (connection: number) => {
      const url = urlOf(connection);
      while (performance.now() < deadline && issued < maxRequests && !options.signal?.aborted) {
        const r = await postOrder(agent, url, newOrderRequest(issued++));
        if (r.status === 201) latencies.push(r.doneAt - r.sentAt);
        else {
          failures++;
          if (failureSamples.length < 3) failureSamples.push(r.error ?? `HTTP ${r.status}`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
    const seconds = (performance.now() - t0) / 1000;
    const result: ThroughputRun = {
      perSecond: latencies.length / seconds,
      count: latencies.length,
      seconds,
      latency: summarize(latencies),
      failures,
      failureSamples,
      cpu: cpuSince(before, cpuSnapshot(options.pids)),
    };
    latencySamples.set(result, latencies);
    return result;
  } finally {
    agent.destroy();
  }
}
