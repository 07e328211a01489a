import type { ErrorItem } from './envelope.js';
import { withinMs } from './timeout.js';

/**
 * A named dependency check: resolves when the dependency answers, rejects with why it does not.
 * It may resolve with a warning: the dependency works but is set up in a way that puts work at
 * risk (Redis allowed to evict keys). A warning is reported, never a reason to be unready.
 */
export type ReadinessCheck = () => Promise<void | { warning?: string }>;
export type ReadinessChecks = Record<string, ReadinessCheck>;

export interface ReadinessReport {
  ready: boolean;
  /** Each check's state: "ok" or "down: <why>". */
  checks: Record<string, string>;
  /** Warnings of the checks that gave one, by check name. */
  warnings: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 2000;

function bounded(name: string, check: ReadinessCheck): ReturnType<ReadinessCheck> {
  return withinMs(check(), CHECK_TIMEOUT_MS, () => {
    throw new Error(`${name} did not answer within ${CHECK_TIMEOUT_MS} ms`);
  });
}

/** Runs every check at once, each bounded, and reports them all. */
export async function runChecks(checks: ReadinessChecks): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((n) => bounded(n, checks[n]!)));
  const out: Record<string, string> = {};
  const warnings: Record<string, string> = {};
  results.forEach((r, i) => {
    const name = names[i]!;
    if (r.status === 'rejected') {
      out[name] = `down: ${(r.reason as Error).message}`;
      return;
    }
    out[name] = 'ok';
    if (r.value?.warning) warnings[name] = r.value.warning;
  });
  return { ready: results.every((r) => r.status === 'fulfilled'), checks: out, warnings };
}

/** The readiness answer every process gives: its status code and the envelope's data and errors. */
export function readinessAnswer(report: ReadinessReport): {
  status: 200 | 503;
  data: {
    status: 'ready' | 'not ready';
    checks: Record<string, string>;
    warnings: ErrorItem[];
  };
  errors: ErrorItem[];
} {
  return {
    status: report.ready ? 200 : 503,
    data: {
      status: report.ready ? 'ready' : 'not ready',
      checks: report.checks,
      // The errors' shape, so a reader handles both alike; in data, because the answer is not a
      // failure.
      warnings: Object.entries(report.warnings).map(([name, message]) => ({
        code: 'dependency_warning',
        field: name,
        message: `${name}: ${message}`,
      })),
    },
    errors: Object.entries(report.checks)
      .filter(([, state]) => state !== 'ok')
      .map(([name, state]) => ({
        code: 'dependency_down',
        field: name,
        message: `${name} ${state}`,
      })),
  };
}
