/**
 * The judgements of the capacity and efficiency measurements, kept free of I/O so they can be
 * unit-tested: when a step passes, how far the stepping goes, what the capacity is, when a backlog
 * counts as bounded, and the efficiency figures (CPU per order, per process, the worker's CPU per
 * job against a no-op BullMQ job's).
 */

/** POST → shipped p99 a step may reach and still pass (the capacity target). */
export const STEP_P99_MS = 250;

/**
 * A backlog is bounded when its peak over the last quarter of the sending period is at most its
 * peak over the first half times this, plus BACKLOG_SLACK. Under a load the system keeps up with,
 * the backlog rises to a level within the first moments (about the end-to-end latency) and then
 * wanders around it; past capacity it grows for as long as orders keep coming, so the last quarter
 * stands well above the first half.
 */
export const BACKLOG_GROWTH_FACTOR = 1.5;
/** Rows of noise allowed on top (a few orders' rows arriving together at a low rate). */
export const BACKLOG_SLACK = 20;

export interface BacklogJudgement {
  bounded: boolean;
  /** Highest sample over the whole period. */
  max: number;
  firstHalfMax: number;
  lastQuarterMax: number;
  samples: number;
}

/** `values`: the backlog sampled at a steady interval over the period the load was sent. */
export function judgeBacklog(values: number[]): BacklogJudgement {
  const n = values.length;
  const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
  const max = maxOf(values);
  if (n < 4) {
    // Too few samples to see a trend: only a backlog past the slack counts against it.
    return {
      bounded: max <= BACKLOG_SLACK,
      max,
      firstHalfMax: max,
      lastQuarterMax: max,
      samples: n,
    };
  }
  const firstHalfMax = maxOf(values.slice(0, Math.ceil(n / 2)));
  const lastQuarterMax = maxOf(values.slice(n - Math.max(1, Math.floor(n / 4))));
  return {
    bounded: lastQuarterMax <= firstHalfMax * BACKLOG_GROWTH_FACTOR + BACKLOG_SLACK,
    max,
    firstHalfMax,
    lastQuarterMax,
    samples: n,
  };
}

/** What a step's run came to, as the judgement needs it. */
export interface StepRun {
  orders: number;
  created: number;
  shipped: number;
  postFailures: number;
  p99: number;
}

/** Why a step failed; empty when it passed. */
export function stepFailures(run: StepRun, backlog: BacklogJudgement): string[] {
  const why: string[] = [];
  if (run.postFailures > 0) why.push(`${run.postFailures} POSTs failed`);
  if (run.shipped < run.orders)
    why.push(`${run.orders - run.shipped} of ${run.orders} not shipped`);
  if (!(run.p99 <= STEP_P99_MS)) {
    why.push(`p99 ${Number.isFinite(run.p99) ? run.p99.toFixed(0) : '—'} ms > ${STEP_P99_MS} ms`);
  }
  if (!backlog.bounded) {
    why.push(`backlog grew (${backlog.firstHalfMax} → ${backlog.lastQuarterMax} rows)`);
  }
  return why;
}

/**
 * Runs the steps in order and stops after the first one that fails (or when `signal` aborts):
 * beyond it every higher rate would fail too and only load the machine for longer.
 */
export async function stepUp<T extends { passed: boolean }>(
  rates: number[],
  runStep: (rate: number, index: number) => Promise<T>,
  signal?: AbortSignal,
): Promise<T[]> {
  const out: T[] = [];
  for (const [i, rate] of rates.entries()) {
    if (signal?.aborted) break;
    const step = await runStep(rate, i);
    out.push(step);
    if (!step.passed) break;
  }
  return out;
}

/**
 * The highest rate that passed with every lower step passing too; 0 when the first step failed
 * (the capacity is below the lowest rate tried).
 */
export function capacityOf(steps: { rate: number; passed: boolean }[]): number {
  let capacity = 0;
  for (const step of steps) {
    if (!step.passed) break;
    capacity = Math.max(capacity, step.rate);
  }
  return capacity;
}

/** Parses `--steps 10,20,40`: whole rates, strictly increasing. */
export function parseSteps(text: string): number[] {
  const rates = text.split(',').map((s) => Number(s.trim()));
  if (
    rates.length === 0 ||
    rates.some((r) => !Number.isInteger(r) || r < 1 || r > 1000) ||
    rates.some((r, i) => i > 0 && r <= rates[i - 1]!)
  ) {
    throw new Error(
      `--steps must be increasing whole rates from 1 to 1000, comma-separated, got ${text}`,
    );
  }
  return rates;
}

/** CPU per job of the no-op BullMQ floor. */
export interface NoopJobCpuMs {
  /** The child process that added and processed the jobs. */
  node: number;
  /** Redis over the same period (any client's: the machine's Redis is shared). */
  redis: number;
}

export interface Efficiency {
  /** All processes' CPU (every part measured) per order. */
  cpuMsPerOrder: number;
  /** The same, by process. */
  byProcess: Record<string, number>;
  /** Outbox rows (= jobs) per order in the measured run. */
  jobsPerOrder: number;
  /** The worker processes' CPU per job they ran (relay and everything else they do included). */
  workerCpuMsPerJob?: number;
  noopJobCpuMs?: NoopJobCpuMs;
  /** workerCpuMsPerJob ÷ noopJobCpuMs.node. */
  workerCpuPerJobRatio?: number;
}

/**
 * From the CPU each part used over a run of `orders` orders that made `jobs` jobs. The ratio
 * compares Node with Node: the worker's own process against the no-op child's.
 */
export function efficiencyOf(
  cpuParts: Record<string, number>,
  orders: number,
  jobs: number,
  noop?: NoopJobCpuMs,
): Efficiency {
  const per = (ms: number) => (orders > 0 ? ms / orders : Number.NaN);
  const byProcess = Object.fromEntries(
    Object.entries(cpuParts).map(([name, ms]) => [name, per(ms)]),
  );
  const total = Object.values(cpuParts).reduce((s, ms) => s + ms, 0);
  // Every worker process (--workers n: worker, worker-2, …) runs a share of the jobs.
  const workerParts = Object.entries(cpuParts).filter(([name]) => /^worker(-\d+)?$/.test(name));
  const worker = workerParts.length > 0 ? workerParts.reduce((s, [, ms]) => s + ms, 0) : undefined;
  const workerCpuMsPerJob = worker !== undefined && jobs > 0 ? worker / jobs : undefined;
  return {
    cpuMsPerOrder: per(total),
    byProcess,
    jobsPerOrder: orders > 0 ? jobs / orders : Number.NaN,
    workerCpuMsPerJob,
    noopJobCpuMs: noop,
    workerCpuPerJobRatio:
      workerCpuMsPerJob !== undefined && noop && noop.node > 0
        ? workerCpuMsPerJob / noop.node
        : undefined,
  };
}

/** The half-capacity rate of the sustained run; half the lowest step when none passed. */
export function sustainedRate(capacity: number, rates: number[]): number {
  const base = capacity > 0 ? capacity : (rates[0] ?? 2);
  return Math.max(1, Math.round(base / 2));
}
