/** The benchmark's results as a readable table (default) or one JSON document (--json). */
import type { CpuUsage } from './cpu.js';
import { HOPS, type E2ERun, type HopName } from './e2e.js';
import type { IntakeResults, ThroughputRun } from './intake.js';
import type { RelayResults } from './relay.js';
import { round, type Summary } from './stats.js';
import type { PartLog } from './system.js';

export const TARGETS = {
  /** 1. POST → shipped, p99, with instant peers. */
  e2eP99Ms: 250,
  /** 2. An outbox row's job starts within this of its commit (judged at p99). */
  commitToStartP99Ms: 5,
  /** 3. Relay throughput. */
  relayRowsPerSecond: 5000,
  /** 4. Service intake as a share of what Postgres allows for the same transaction. */
  intakeRatio: 0.5,
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
  /** Bench clock minus Postgres clock, ms (the stamps are compared across the two). */
  clockOffsetMs?: number;
  seconds?: number;
  intakeNote?: string;
  /** --profile: where the CPU profiles were written. */
  profileDir?: string;
}

export interface BenchResults {
  meta: BenchMeta;
  relay?: RelayResults;
  e2e?: { steady?: E2ERun; burst?: E2ERun };
  intake?: IntakeResults;
  logs?: PartLog[];
  errors: string[];
}

export interface Verdict {
  target: number;
  name: string;
  measured: number | undefined;
  unit: string;
  goal: string;
  met: boolean | undefined;
  detail: string;
}

export function verdicts(r: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  for (const run of [r.e2e?.steady, r.e2e?.burst]) {
    if (!run) continue;
    const p99 = run.latency.p99;
    const complete = run.unfinished === 0 && run.postFailures === 0 && run.cancelled === 0;
    out.push({
      target: 1,
      name: `POST → shipped p99, ${run.label}`,
      measured: p99,
      unit: 'ms',
      goal: `< ${TARGETS.e2eP99Ms} ms`,
      met: Number.isFinite(p99) ? p99 < TARGETS.e2eP99Ms && complete : undefined,
      detail: `p50 ${fmtMs(run.latency.p50)}, ${run.shipped}/${run.orders} shipped`,
    });
  }
  if (r.relay) {
    const { total } = r.relay.latency;
    out.push({
      target: 2,
      name: `outbox commit → job start p99 (${total.n} rows)`,
      measured: total.p99,
      unit: 'ms',
      goal: `≤ ${TARGETS.commitToStartP99Ms} ms`,
      met: total.p99 <= TARGETS.commitToStartP99Ms,
      detail: `p50 ${fmtMs(total.p50)}, max ${fmtMs(total.max)}`,
    });
    const [first, ...rest] = r.relay.throughput;
    if (first) {
      out.push({
        target: 3,
        name: `relay throughput, batch ${first.batchSize} (${first.rows} rows)`,
        measured: first.rowsPerSecond,
        unit: 'rows/s',
        goal: `≥ ${fmtInt(TARGETS.relayRowsPerSecond)} rows/s`,
        met: first.rowsPerSecond >= TARGETS.relayRowsPerSecond,
        detail: rest.map((t) => `batch ${t.batchSize}: ${fmtInt(t.rowsPerSecond)}/s`).join(', '),
      });
    }
  }
  if (r.intake) {
    const { service, postgres, ratio } = r.intake;
    out.push({
      target: 4,
      name:
        `intake: service / Postgres (${r.intake.concurrency} connections` +
        (r.intake.webProcesses > 1 ? `, ${r.intake.webProcesses} web processes)` : ')'),
      measured: ratio * 100,
      unit: '%',
      goal: `≥ ${TARGETS.intakeRatio * 100}%`,
      met: ratio >= TARGETS.intakeRatio,
      detail: `${fmtInt(service.perSecond)} orders/s vs ${fmtInt(postgres.perSecond)} tps`,
    });
  }
  return out;
}

const fmtMs = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '—');
const fmtInt = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');

function measuredText(v: Verdict): string {
  if (v.measured === undefined || !Number.isFinite(v.measured)) return '—';
  if (v.unit === 'ms') return fmtMs(v.measured);
  if (v.unit === '%') return `${v.measured.toFixed(0)}%`;
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

export function formatText(r: BenchResults): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(
    `Order service benchmark — ${m.startedAt}${m.quick ? ' (--quick)' : ''}`,
    `  ${m.mode === 'processes' ? 'web, worker, consumer as separate processes' : 'in-process (startDev)'}; ` +
      `${m.cpus} cores, load average before ${m.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')}` +
      (m.loadAverageAfter
        ? `, after ${m.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')}`
        : ''),
    `  Node ${m.node}; ${m.postgres ?? 'Postgres ?'}; web pool ${m.poolSize}` +
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
        String(v.target),
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

  for (const run of [r.e2e?.steady, r.e2e?.burst]) {
    if (!run) continue;
    out.push(
      `1. POST → shipped, ${run.label}: ${run.created}/${run.orders} created, ${run.shipped} shipped, ` +
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
    if (run.redisCommands !== undefined && run.created) {
      out.push(
        `   Redis commands per order ≈ ${(run.redisCommands / run.created).toFixed(0)} ` +
          '(counted by the shared Redis, any client)',
      );
    }
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
      '   Shipping peers and the Kafka broker; "postgres" and "redis" count every client of the',
      '   machine\'s servers; "exited children" is pgbench. Hop times come from Postgres now()',
      '   stamps: the start of the transaction that wrote the row.)',
      '',
    );
  }

  if (r.relay) {
    const { total, hops } = r.relay.latency;
    out.push(
      `2. Outbox commit → job start, one row at a time, ${total.n} rows (in the bench process):`,
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
      `3. Relay throughput (drainOnce over committed rows, no other load):`,
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
      `4. Intake, ${i.concurrency} concurrent connections` +
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
  if (m.seconds !== undefined) out.push(`Ran in ${m.seconds.toFixed(0)} s.`);
  return out.join('\n');
}

/** For --json: numbers rounded to what they mean (0.1 ms, whole rows). */
export function formatJson(r: BenchResults): string {
  return JSON.stringify(
    { ...r, targets: TARGETS, verdicts: verdicts(r) },
    (_key, value: unknown) => (typeof value === 'number' ? round(value, 2) : value),
    2,
  );
}
