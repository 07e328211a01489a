/**
 * `--runs n`: the whole benchmark n times in a row, each in a process of its own (so no run
 * inherits another's connections, caches or heap), then each target's figure per run with the
 * spread. A target "in every run" is judged on the worst of them, not on the median.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchResults } from './report.js';

export interface RunFigures {
  capacityOrdersPerSecond?: number;
  cpuMsPerOrder?: number;
  redisCommandsPerOrder?: number;
  pgRoundTripsPerOrder?: number;
  intakeRatio?: number;
  commitToProcessorP50Ms?: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface RunsResults {
  runs: BenchResults[];
  figures: RunFigures[];
  spread: Partial<Record<keyof RunFigures, Spread>>;
}

export function figuresOf(r: BenchResults): RunFigures {
  return {
    capacityOrdersPerSecond: r.capacity?.ordersPerSecond,
    cpuMsPerOrder: r.efficiency?.cpuMsPerOrder,
    redisCommandsPerOrder: r.efficiency?.redisCommandsPerOrder,
    pgRoundTripsPerOrder: r.efficiency?.pgRoundTripsPerOrder,
    intakeRatio: r.intake?.ratio,
    commitToProcessorP50Ms: r.relay?.latency.total.p50,
  };
}

export function spreadOf(values: number[]): Spread | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return {
    median: v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2,
    min: v[0]!,
    max: v[v.length - 1]!,
  };
}

export function summarizeRuns(runs: BenchResults[]): RunsResults {
  const figures = runs.map(figuresOf);
  const keys = Object.keys(figuresOf({} as BenchResults)) as (keyof RunFigures)[];
  const spread: RunsResults['spread'] = {};
  for (const key of keys) {
    const s = spreadOf(figures.flatMap((f) => (f[key] === undefined ? [] : [f[key]!])));
    if (s) spread[key] = s;
  }
  return { runs, figures, spread };
}

const LABELS: Record<keyof RunFigures, [string, (n: number) => string]> = {
  capacityOrdersPerSecond: ['capacity, orders/s', (n) => n.toFixed(0)],
  cpuMsPerOrder: ['CPU per order, ms', (n) => n.toFixed(1)],
  redisCommandsPerOrder: ['Redis commands per order', (n) => n.toFixed(0)],
  pgRoundTripsPerOrder: ['Postgres round trips per order', (n) => n.toFixed(1)],
  intakeRatio: ['intake ÷ pgbench', (n) => n.toFixed(2)],
  commitToProcessorP50Ms: ['commit → processor p50, ms', (n) => n.toFixed(1)],
};

export function formatRuns(summary: RunsResults): string {
  const n = summary.figures.length;
  const head = ['figure'.padEnd(32), ...summary.figures.map((_, i) => `run ${i + 1}`.padStart(8))];
  head.push('median'.padStart(8), 'min'.padStart(8), 'max'.padStart(8));
  const lines = [`${n} runs:`, head.join('  ')];
  for (const [key, [label, fmt]] of Object.entries(LABELS) as [
    keyof RunFigures,
    [string, (n: number) => string],
  ][]) {
    const s = summary.spread[key];
    const cells = summary.figures.map((f) => (f[key] === undefined ? '—' : fmt(f[key]!)));
    const tail = s ? [fmt(s.median), fmt(s.min), fmt(s.max)] : ['—', '—', '—'];
    lines.push([label.padEnd(32), ...[...cells, ...tail].map((c) => c.padStart(8))].join('  '));
  }
  return lines.join('\n');
}

/**
 * Runs this benchmark `n` times with `args` (without --runs, --json or --json-file), each writing
 * its JSON under `dir`; each run's table goes to `out`. Rejects when a run fails to produce one.
 */
export async function repeatRuns(
  n: number,
  args: string[],
  dir: string,
  out: NodeJS.WritableStream,
  progress: (line: string) => void,
): Promise<BenchResults[]> {
  const results: BenchResults[] = [];
  for (let i = 1; i <= n; i++) {
    progress(`run ${i} of ${n}`);
    const file = join(dir, `run-${i}.json`);
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, ...args, '--json-file', file],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.stdout.pipe(out, { end: false });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) throw new Error(`run ${i} wrote no results (exit ${code})`);
    results.push(JSON.parse(text) as BenchResults);
  }
  return results;
}
