/** The benchmark's results as a readable table (default) or one JSON document (--json). */
import type { CpuUsage } from './cpu.js';
import { HOPS, type E2ERun, type HopName } from './e2e.js';
import type { IntakeResults, ThroughputRun } from './intake.js';
import type { RelayResults } from './relay.js';
import { round, type Summary } from './stats.js';
import { STEP_P99_MS, type Efficiency } from './capacity.js';
import type { NoopFloorResult } from './noop-floor.js';
import type { PartLog } from './system.js';
import type { StoreCost } from './store-counts.js';

export const TARGETS = {
  /** 1. Capacity: the highest steady rate with every order final, p99 ≤ 250 ms, bounded backlog. */
  capacityOrdersPerSecond: 100,
  /** 1. POST → shipped, p99, at a step that passes. */
  e2eP99Ms: STEP_P99_MS,
  /** 2. CPU per order, every process counted. */
  cpuMsPerOrder: 25,
  /** 2. The worker's CPU per job, as a multiple of a no-op BullMQ job's. */
  workerCpuPerJobRatio: 3,
  /** 2. Commands Redis ran per order (those inside BullMQ's Lua scripts included). */
  redisCommandsPerOrder: 250,
  /** 2. The service processes' Postgres round trips per order. */
  pgRoundTripsPerOrder: 25,
  /** 3. Service intake as a share of what Postgres allows for the same transaction. */
  intakeRatio: 0.5,
  /** 4. Outbox commit → processor called, on an idle system. */
  commitToProcessorP50Ms: 3,
  commitToProcessorP99Ms: 10,
  /** 5. Every service process's peak resident memory over the sustained run. */
  rssMb: 200,
  /** Relay throughput (the first version's target; kept as a regression check). */
  relayRowsPerSecond: 5000,
} as const;

export interface BenchMeta {
  startedAt: string;
  mode: 'processes' | 'in-process';
  quick: boolean;
  cpus: number;
  loadAverageBefore: number[];
  loadAverageAfter?: number[];
  node: string;
  postgres?: string;
  commit?: string;
  poolSize: number;
  /** Web and worker processes (processes mode; --web, --workers). */
  processes?: { web: number; worker: number };
  /** What the service processes ran: dist/ as the Procfile, or the sources through tsx. */
  build?: string;
  /** Bench clock minus Postgres clock, ms (the stamps are compared across the two). */
  clockOffsetMs?: number;
  seconds?: number;
  intakeNote?: string;
  /** --profile: where the CPU profiles were written. */
  profileDir?: string;
  /** Anything that makes a figure read differently (a fallback rate, a system that stayed busy). */
  notes?: string[];
}

export interface CapacityStep {
  rate: number;
  orders: number;
  p50: number;
  p99: number;
  /** Highest count of open outbox rows sampled while the step's orders were being sent. */
  backlog: number;
  /** Highest count of jobs waiting in BullMQ, same samples. */
  jobsWaiting?: number;
  bounded: boolean;
  passed: boolean;
  /** Why it failed; empty when it passed. */
  failures: string[];
}

export interface CapacityResults {
  /** The highest passing rate below the first failing one; 0: the lowest step failed. */
  ordersPerSecond: number;
  steps: CapacityStep[];
  stepSeconds: number;
}

export interface EfficiencyResults extends Efficiency {
  /** Which run the CPU was measured on. */
  run: string;
  /**
   * CPU per second of each part with no orders, measured just before the run: at R orders/s,
   * sum ÷ R of the CPU per order is this fixed cost rather than the orders' own.
   */
  idleCpuMsPerSecond?: Record<string, number>;
  /** Redis's CPU per service job over the same run (any client's). */
  redisCpuMsPerJob?: number;
  /** Commands Redis ran per created order over the same run, Lua's included (any client's). */
  redisCommandsPerOrder?: number;
  /** Round trips to Postgres per created order over the same run, by the service's processes. */
  pgRoundTripsPerOrder?: number;
  noopFloor?: Omit<NoopFloorResult, 'cpuMsPerJob' | 'cpu'>;
}

export interface BurstResults {
  orders: number;
  concurrency: number;
  /** POSTs not answered 201. */
  failures: number;
  /** Created orders not final when the wait ended. */
  unfinished: number;
  /** First POST → every order final, s; null when they did not all get there. */
  drainSeconds: number | null;
  p50: number;
  p99: number;
}

export interface SustainedResults {
  rate: number;
  seconds: number;
  orders: number;
  failures: number;
  unfinished: number;
  p50: number;
  p99: number;
  /** Highest count of open outbox rows sampled while sending. */
  maxBacklog: number;
  maxJobsWaiting?: number;
  bounded: boolean;
  /** Peak resident memory per service process, MB. */
  peakRssMb: Record<string, number>;
  /** The same at the run's first sample: the peak's growth over the run tells a leak apart. */
  startRssMb?: Record<string, number>;
}

export interface BenchResults {
  meta: BenchMeta;
  capacity?: CapacityResults;
  efficiency?: EfficiencyResults;
  burst?: BurstResults;
  sustained?: SustainedResults;
  relay?: RelayResults;
  /** The full runs behind capacity, burst and sustained: hops, CPU, slowest orders. */
  e2e?: { steps?: E2ERun[]; burst?: E2ERun; sustained?: E2ERun };
  intake?: IntakeResults;
  logs?: PartLog[];
  errors: string[];
}

export interface Verdict {
  /** The issue's target number, or `relay` for the kept regression check. */
  target: string;
  name: string;
  measured: number | undefined;
  unit: string;
  goal: string;
  met: boolean | undefined;
  detail: string;
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export function verdicts(r: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  if (r.capacity) {
    const c = r.capacity;
    out.push({
      target: '1',
      name: `capacity (steps of ${c.stepSeconds} s, p99 ≤ ${TARGETS.e2eP99Ms} ms, all shipped, bounded backlog)`,
      measured: c.ordersPerSecond,
      unit: 'orders/s',
      goal: `≥ ${TARGETS.capacityOrdersPerSecond} orders/s`,
      met: c.ordersPerSecond >= TARGETS.capacityOrdersPerSecond,
      detail: c.steps
        .map((s) => `${s.rate}/s ${s.passed ? 'ok' : 'fail'} p99 ${fmtMs(s.p99)}`)
        .join(', '),
    });
  }
  if (r.efficiency) {
    const e = r.efficiency;
    out.push({
      target: '2',
      name: `CPU per order, all processes (${e.run})`,
      measured: e.cpuMsPerOrder,
      unit: 'ms',
      goal: `≤ ${TARGETS.cpuMsPerOrder} ms`,
      met: finite(e.cpuMsPerOrder) ? e.cpuMsPerOrder <= TARGETS.cpuMsPerOrder : undefined,
      detail: Object.entries(e.byProcess)
        .filter(([, ms]) => ms >= 0.005)
        .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
        .join(', '),
    });
    const ratio = e.workerCpuPerJobRatio;
    out.push({
      target: '2',
      name: 'worker CPU per job ÷ no-op BullMQ job',
      measured: ratio,
      unit: '×',
      goal: `≤ ${TARGETS.workerCpuPerJobRatio}×`,
      met: finite(ratio) ? ratio <= TARGETS.workerCpuPerJobRatio : undefined,
      detail:
        `worker ${fmtMs(e.workerCpuMsPerJob ?? Number.NaN)}/job (${e.jobsPerOrder.toFixed(1)} ` +
        `jobs/order); no-op ${fmtMs(e.noopJobCpuMs?.node ?? Number.NaN)} Node + ` +
        `${fmtMs(e.noopJobCpuMs?.redis ?? Number.NaN)} Redis`,
    });
    const sustained = r.e2e?.sustained;
    const perOrder = (n: number) => (n / Math.max(1, sustained?.created ?? 0)).toFixed(1);
    const atMost = (name: string, measured: number | undefined, goal: number, detail: string) =>
      out.push({
        target: '2',
        name,
        measured: measured ?? Number.NaN,
        unit: '',
        goal: `≤ ${goal}`,
        met: finite(measured) ? measured <= goal : undefined,
        detail,
      });
    const stores = sustained?.stores;
    atMost(
      'Redis commands per order (Lua included)',
      e.redisCommandsPerOrder,
      TARGETS.redisCommandsPerOrder,
      stores
        ? stores.redisTop
            .slice(0, 5)
            .map((t) => `${t.command} ${perOrder(t.calls)}`)
            .join(', ')
        : 'not counted',
    );
    atMost(
      'Postgres round trips per order (web, worker, consumer)',
      e.pgRoundTripsPerOrder,
      TARGETS.pgRoundTripsPerOrder,
      stores ? `${perOrder(stores.pgTransactions)} transactions per order` : 'not counted',
    );
  }
  if (r.intake) {
    const { service, postgres, ratio } = r.intake;
    out.push({
      target: '3',
      name:
        `intake: service / pgbench (${r.intake.concurrency} connections` +
        (r.intake.webProcesses > 1 ? `, ${r.intake.webProcesses} web processes)` : ')'),
      measured: ratio * 100,
      unit: '%',
      goal: `≥ ${TARGETS.intakeRatio * 100}%`,
      met: ratio >= TARGETS.intakeRatio,
      detail: `${fmtInt(service.perSecond)} orders/s vs ${fmtInt(postgres.perSecond)} tps`,
    });
  }
  if (r.relay) {
    const { total } = r.relay.latency;
    out.push(
      {
        target: '4',
        name: `outbox commit → processor p50 (${total.n} rows, idle)`,
        measured: total.p50,
        unit: 'ms',
        goal: `≤ ${TARGETS.commitToProcessorP50Ms} ms`,
        met: total.p50 <= TARGETS.commitToProcessorP50Ms,
        detail: `p90 ${fmtMs(total.p90)}`,
      },
      {
        target: '4',
        name: 'outbox commit → processor p99',
        measured: total.p99,
        unit: 'ms',
        goal: `≤ ${TARGETS.commitToProcessorP99Ms} ms`,
        met: total.p99 <= TARGETS.commitToProcessorP99Ms,
        detail: `max ${fmtMs(total.max)}`,
      },
    );
  }
  if (r.burst) {
    const b = r.burst;
    out.push({
      target: '5',
      name: `burst of ${b.orders} at concurrency ${b.concurrency}: failed POSTs`,
      measured: b.failures,
      unit: 'POSTs',
      goal: '0, every order final',
      met: b.failures === 0 && b.unfinished === 0,
      detail:
        (b.drainSeconds === null
          ? `${b.unfinished} orders not final`
          : `drained in ${b.drainSeconds.toFixed(1)} s`) + `; p99 ${fmtMs(b.p99)}`,
    });
  }
  if (r.sustained) {
    const s = r.sustained;
    out.push({
      target: '5',
      name: `sustained ${s.rate}/s for ${s.seconds} s: max backlog`,
      measured: s.maxBacklog,
      unit: 'rows',
      goal: 'bounded, every order final',
      met: s.bounded && s.unfinished === 0 && s.failures === 0,
      detail: `${s.bounded ? 'bounded' : 'GROWING'}; p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}`,
    });
    const rss = Object.entries(s.peakRssMb);
    if (rss.length) {
      const peak = Math.max(...rss.map(([, mb]) => mb));
      out.push({
        target: '5',
        name: 'peak RSS of a service process (sustained)',
        measured: peak,
        unit: 'MB',
        goal: `< ${TARGETS.rssMb} MB each`,
        // In-process, one process holds the service, the peers, the broker and the load.
        met: r.meta.mode === 'in-process' ? undefined : peak < TARGETS.rssMb,
        detail:
          rss.map(([name, mb]) => `${name} ${mb.toFixed(0)}`).join(', ') +
          (r.meta.mode === 'in-process' ? ' (not judged in-process)' : ''),
      });
    }
  }
  if (r.relay) {
    const [first, ...rest] = r.relay.throughput;
    if (first) {
      out.push({
        target: 'relay',
        name: `relay throughput, batch ${first.batchSize} (${first.rows} rows)`,
        measured: first.rowsPerSecond,
        unit: 'rows/s',
        goal: `≥ ${fmtInt(TARGETS.relayRowsPerSecond)} rows/s`,
        met: first.rowsPerSecond >= TARGETS.relayRowsPerSecond,
        detail: rest.map((t) => `batch ${t.batchSize}: ${fmtInt(t.rowsPerSecond)}/s`).join(', '),
      });
    }
  }
  return out;
}

const fmtMs = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '—');
const fmtInt = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');

function measuredText(v: Verdict): string {
  if (v.measured === undefined || !Number.isFinite(v.measured)) return '—';
  if (v.unit === 'ms') return fmtMs(v.measured);
  if (v.unit === '%') return `${v.measured.toFixed(0)}%`;
  if (v.unit === '×') return `${v.measured.toFixed(1)}×`;
  if (v.unit === 'MB') return `${v.measured.toFixed(0)} MB`;
  return `${fmtInt(v.measured)} ${v.unit}`;
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)];
}

function cpuLines(cpu: CpuUsage, orders: number, label = 'CPU per order'): string[] {
  // Parts that used under 0.005 ms per order were idle: left out.
  const parts = Object.entries(cpu.parts).filter(([, ms]) => ms / orders >= 0.005);
  if (!parts.length || !orders) return [];
  const total = parts.reduce((s, [, ms]) => s + ms, 0);
  const busy =
    cpu.machineBusy === undefined
      ? ''
      : `; machine ${(cpu.machineBusy * 100).toFixed(0)}% busy` +
        (cpu.machineSteal !== undefined && cpu.machineSteal >= 0.005
          ? ` (+${(cpu.machineSteal * 100).toFixed(0)}% stolen by the hypervisor)`
          : '') +
        ` over ${cpu.seconds.toFixed(1)} s`;
  return [
    `   ${label} ${(total / orders).toFixed(2)} ms: ` +
      parts.map(([name, ms]) => `${name} ${(ms / orders).toFixed(2)}`).join(', ') +
      busy,
  ];
}

const summaryCells = (s: Summary) => [fmtMs(s.p50), fmtMs(s.p90), fmtMs(s.p99), fmtMs(s.max)];

function processesText(p: BenchMeta['processes']): string {
  const n = (count: number, name: string) => (count > 1 ? `${count} ${name} processes` : name);
  return `${n(p?.web ?? 1, 'web')}, ${n(p?.worker ?? 1, 'worker')}, consumer`;
}

export function formatText(r: BenchResults): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(
    `Order service benchmark — ${m.startedAt}${m.quick ? ' (--quick)' : ''}`,
    `  ${m.mode === 'processes' ? `${processesText(m.processes)} as separate processes` : 'in-process (startDev)'}; ` +
      `${m.cpus} cores, load average before ${m.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')}` +
      (m.loadAverageAfter
        ? `, after ${m.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')}`
        : ''),
    `  Node ${m.node}; ${m.postgres ?? 'Postgres ?'}; web pool ${m.poolSize}` +
      (m.build ? `; ${m.build}` : '') +
      (m.commit ? `; commit ${m.commit}` : '') +
      (m.clockOffsetMs !== undefined
        ? `; clocks bench − Postgres ${m.clockOffsetMs.toFixed(2)} ms`
        : ''),
    '  Peers instant: Payments callback delay 0, Shipping delay 0, Catalog without delay.',
    '',
  );

  const vs = verdicts(r);
  out.push(
    ...table(
      ['#', 'measure', 'measured', 'target', '', 'detail'],
      vs.map((v) => [
        v.target,
        v.name,
        measuredText(v),
        v.goal,
        v.met === undefined ? '?' : v.met ? 'ok' : 'MISS',
        v.detail,
      ]),
      ['l', 'l', 'r', 'l', 'l', 'l'],
    ),
    '',
  );

  if (r.capacity) {
    const c = r.capacity;
    out.push(
      `1. Capacity: ${c.ordersPerSecond ? `${c.ordersPerSecond} orders/s` : `below ${c.steps[0]?.rate ?? '?'} orders/s`}` +
        ` (steady steps of ${c.stepSeconds} s, stepping stops at the first failure)`,
      ...table(
        ['rate', 'orders', 'p50', 'p99', 'backlog', 'jobs waiting', 'result'],
        c.steps.map((s) => [
          `${s.rate}/s`,
          String(s.orders),
          fmtMs(s.p50),
          fmtMs(s.p99),
          String(s.backlog),
          s.jobsWaiting === undefined ? '—' : String(s.jobsWaiting),
          s.passed ? 'passed' : `failed: ${s.failures.join('; ')}`,
        ]),
        ['r', 'r', 'r', 'r', 'r', 'r', 'l'],
      ).map((l) => `   ${l}`),
      '   (backlog: the most open outbox rows sampled while the step was sending; jobs waiting:',
      '   BullMQ wait + prioritized + delayed over every queue, same samples.)',
      '',
    );
  }

  if (r.efficiency) {
    const e = r.efficiency;
    const parts = Object.entries(e.byProcess).filter(([, ms]) => ms >= 0.005);
    out.push(
      `2. CPU per order ${e.cpuMsPerOrder.toFixed(2)} ms over the ${e.run}: ` +
        parts.map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', '),
      `   ${e.jobsPerOrder.toFixed(2)} jobs per order; worker ${fmtMs(e.workerCpuMsPerJob ?? Number.NaN)} ` +
        `per job (its relay and everything else included)` +
        (e.redisCpuMsPerJob !== undefined
          ? `; Redis ${fmtMs(e.redisCpuMsPerJob)} per service job`
          : ''),
    );
    if (e.idleCpuMsPerSecond) {
      const idle = Object.entries(e.idleCpuMsPerSecond).filter(([, ms]) => ms >= 0.05);
      const total = idle.reduce((sum, [, ms]) => sum + ms, 0);
      const rate = r.sustained?.rate;
      out.push(
        `   idle, no orders: ${total.toFixed(1)} ms of CPU per second (` +
          idle.map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ') +
          ')' +
          (rate
            ? `; at ${rate}/s that is ${(total / rate).toFixed(1)} ms of the CPU per order`
            : ''),
      );
    }
    if (e.noopJobCpuMs && e.noopFloor) {
      const f = e.noopFloor;
      out.push(
        `   no-op BullMQ floor: ${fmtMs(e.noopJobCpuMs.node)} Node + ${fmtMs(e.noopJobCpuMs.redis)} ` +
          `Redis per job (${f.jobs} copies of the run's jobs at ${f.jobsPerSecond.toFixed(0)} jobs/s ` +
          "through enqueueRows, no-op workers at the service's concurrency, in a child process)",
        `   worker CPU per job ÷ no-op job = ${
          e.workerCpuPerJobRatio === undefined ? '—' : `${e.workerCpuPerJobRatio.toFixed(2)}×`
        }`,
      );
    }
    out.push('');
  }

  if (r.burst) {
    const b = r.burst;
    out.push(
      `5. Burst: ${b.orders} orders over ${b.concurrency} connections: ${b.failures} POSTs failed, ` +
        `${b.unfinished} not final; ` +
        (b.drainSeconds === null ? 'did not drain' : `drained in ${b.drainSeconds.toFixed(1)} s`) +
        `; POST → shipped p50 ${fmtMs(b.p50)}, p99 ${fmtMs(b.p99)}`,
    );
  }
  if (r.sustained) {
    const s = r.sustained;
    out.push(
      `5. Sustained: ${s.orders} orders at ${s.rate}/s (${s.seconds} s): backlog max ${s.maxBacklog} ` +
        `rows${s.maxJobsWaiting === undefined ? '' : `, ${s.maxJobsWaiting} jobs waiting`}, ` +
        `${s.bounded ? 'bounded' : 'GROWING'}; ${s.failures} POSTs failed, ${s.unfinished} not final; ` +
        `p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}`,
      `   peak RSS (at the start of the run → peak): ${
        Object.entries(s.peakRssMb)
          .map(([name, mb]) => {
            const start = s.startRssMb?.[name];
            return `${name} ${start === undefined ? '' : `${start.toFixed(0)} → `}${mb.toFixed(0)} MB`;
          })
          .join(', ') || '—'
      }`,
    );
    if (m.build?.startsWith('sources')) {
      out.push(
        '   (the service processes ran from the TypeScript sources through tsx, whose loader and',
        '   transpiled modules count in their RSS; production runs the compiled JavaScript.)',
      );
    }
  }
  if (r.burst || r.sustained) out.push('');

  const top = r.capacity?.steps.filter((s) => s.passed).at(-1)?.rate;
  const stepRun = r.e2e?.steps?.find((run) => run.rate === top) ?? r.e2e?.steps?.find(() => true);
  for (const run of [stepRun, r.e2e?.burst, r.e2e?.sustained]) {
    if (!run) continue;
    out.push(
      `POST → shipped, ${run.label}: ${run.created}/${run.orders} created, ${run.shipped} shipped, ` +
        `${run.cancelled} cancelled, ${run.unfinished} unfinished, in ${run.seconds.toFixed(1)} s` +
        (run.postFailures
          ? `; ${run.postFailures} POSTs failed (${run.postFailureSamples.join('; ')})`
          : ''),
    );
    out.push(
      ...table(
        ['', 'p50', 'p90', 'p99', 'max'],
        [
          ['POST sent → shipped', ...summaryCells(run.latency)],
          ['POST sent → 201 received', ...summaryCells(run.postLatency)],
          ...(Object.keys(HOPS) as HopName[]).map((h) => [
            `  ${HOPS[h]}`,
            ...summaryCells(run.hops[h]),
          ]),
        ],
        ['l', 'r', 'r', 'r', 'r'],
      ).map((l) => `   ${l}`),
    );
    out.push(...cpuLines(run.cpu, run.created));
    if (run.created) out.push(...storeCostLines(run.stores, run.created));
    const worst = run.slowest[0];
    if (worst) {
      const parts = (Object.keys(HOPS) as HopName[])
        .filter((h) => worst.hops[h] !== undefined)
        .map((h) => `${h} ${worst.hops[h]!.toFixed(1)}`);
      out.push(`   slowest order ${fmtMs(worst.totalMs)}: ${parts.join(', ')}`);
    }
    out.push('');
  }

  if (r.e2e) {
    out.push(
      '   (CPU: "bench" is this process: the load generator, the Payments, Notifications and',
      '   Shipping peers and the Kafka broker; "postgres" is the bench database\'s backends and',
      "   autovacuum workers with the cluster's checkpointer, background writer and WAL writer",
      '   (other databases\' clients left out; in intake, every Postgres process); "redis" is the',
      '   Redis server the bench uses, any client\'s; "exited children" is pgbench. Hop times come',
      '   from Postgres now() stamps: the start of the transaction that wrote the row.)',
      '',
    );
  }

  if (r.relay) {
    const { total, hops } = r.relay.latency;
    out.push(
      `4. Outbox commit → processor called, one row at a time, ${total.n} rows, before the system starts (in the bench process):`,
    );
    out.push(
      ...table(
        ['', 'p50', 'p90', 'p99', 'max'],
        [
          ['commit → processor called', ...summaryCells(total)],
          [
            '  commit → relay calls addBulk (NOTIFY, wake-up, BEGIN, claim)',
            ...summaryCells(hops.commitToAdded),
          ],
          [
            '  addBulk → worker calls moveToActive (Redis, marker wake-up)',
            ...summaryCells(hops.addedToActive),
          ],
          [
            '  moveToActive → processor (its round trip, outbox-state query)',
            ...summaryCells(hops.activeToHandler),
          ],
        ],
        ['l', 'r', 'r', 'r', 'r'],
      ).map((l) => `   ${l}`),
      '   (BullMQ stamps are whole milliseconds; the hops are ±1 ms each.)',
      '',
      `Relay throughput (drainOnce over committed rows, no other load):`,
      ...r.relay.throughput.map(
        (t) =>
          `   batch ${String(t.batchSize).padStart(5)}: ${t.rows} rows in ${t.seconds.toFixed(2)} s = ${fmtInt(t.rowsPerSecond)} rows/s`,
      ),
      '',
    );
  }

  if (r.intake) {
    const i = r.intake;
    const row = (name: string, t: ThroughputRun, unit: string) => [
      name,
      `${fmtInt(t.perSecond)} ${unit}`,
      String(t.count),
      fmtMs(t.latency.p50),
      fmtMs(t.latency.p99),
      String(t.failures),
    ];
    out.push(
      `3. Intake, ${i.concurrency} concurrent connections` +
        (i.webProcesses > 1 ? ` over ${i.webProcesses} web processes` : '') +
        `, ${i.rounds.length} alternating round(s):`,
    );
    out.push(
      ...table(
        ['', 'rate', 'count', 'p50', 'p99', 'failed'],
        [
          row('Postgres alone: pgbench, the intake statement', i.postgres, 'tps'),
          row('service: POST /api/v1/orders (keep-alive)', i.service, 'orders/s'),
          ...i.diagnostics.map((d) => row(`diagnostic: ${d.label}`, d.run, 'tps')),
        ],
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ).map((l) => `   ${l}`),
      ...[
        ['pgbench', i.postgres],
        ['service', i.service],
      ].flatMap(([name, t]) => {
        const run = t as ThroughputRun;
        return run.cpu ? cpuLines(run.cpu, run.count, `${name as string}: CPU per order`) : [];
      }),
      `   rounds (Postgres tps / service orders/s): ${i.rounds
        .map((x) => `${fmtInt(x.postgres)} / ${fmtInt(x.service)}`)
        .join(', ')}`,
      `   ${m.intakeNote ?? ''}`,
      '   The load generator (this process) shares the 2 cores with Postgres and the service; the',
      '   service run also pays a Catalog call and an idempotency-key lookup per order that pgbench',
      '   does not. pgbench uses the extended protocol with an unnamed statement, as node-postgres does.',
      '',
    );
  }

  const noisy = (r.logs ?? []).filter((l) => l.lines > 0);
  if (noisy.length) {
    out.push('Warnings and errors logged during the run (LOG_LEVEL=warn):');
    for (const l of noisy) {
      out.push(`   ${l.name}: ${l.lines} line(s); last: ${(l.tail.at(-1) ?? '').slice(0, 300)}`);
    }
    out.push('');
  } else if (r.logs) {
    out.push('No warnings or errors were logged by the service or the peers.', '');
  }
  if (r.errors.length) {
    out.push('ERRORS (the benchmark is incomplete):', ...r.errors.map((e) => `   ${e}`), '');
  }
  if (m.profileDir) {
    out.push(`CPU profiles of the service processes: ${m.profileDir} (open in Chrome DevTools).`);
  }
  if (m.notes?.length) out.push('Notes:', ...m.notes.map((n) => `   ${n}`), '');
  if (m.seconds !== undefined) out.push(`Ran in ${m.seconds.toFixed(0)} s.`);
  return out.join('\n');
}

/**
 * For --json: numbers rounded to two decimals; the runs' order ids left out (a thousand uuids say
 * nothing a reader needs).
 */
export function formatJson(r: BenchResults): string {
  return JSON.stringify(
    { ...r, targets: TARGETS, verdicts: verdicts(r) },
    (key, value: unknown) =>
      key === 'orderIds' ? undefined : typeof value === 'number' ? round(value, 2) : value,
    2,
  );
}

/** What one order cost the stores, from the counts read at the servers (see store-counts.ts). */
export function storeCostLines(stores: StoreCost | undefined, orders: number): string[] {
  if (!stores) return ['   per order, at the stores: n/a (counts unreadable)'];
  const per = (n: number, digits = 0) => (n / orders).toFixed(digits);
  const top = stores.redisTop.map((c) => `${c.command} ${per(c.calls)}`).join(', ');
  return [
    `   per order, Redis: ${per(stores.redisCommands)} commands run, those inside Lua scripts ` +
      `included (${per(stores.redisScriptCalls, 1)} of them script calls); most: ${top}`,
    `   per order, Postgres: ${
      stores.pgRoundTrips === undefined
        ? ''
        : `${per(stores.pgRoundTrips, 1)} round trips by the service (${Object.entries(
            stores.pgRoundTripsByProcess ?? {},
          )
            .map(([name, n]) => `${name} ${per(n, 1)}`)
            .join(', ')}), `
    }${per(stores.pgTransactions, 1)} transactions, ` +
      `${per(stores.pgRowWrites, 1)} row writes, ${(stores.walBytes / orders / 1024).toFixed(1)} kB of WAL ` +
      "(the bench's own polling included, a few queries a second)",
  ];
}
