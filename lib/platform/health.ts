import type { ErrorItem } from './envelope.js';
import { withinMs } from './timeout.js';

/** A named dependency check: resolves when the dependency answers, rejects with why it does not. */
export type ReadinessChecks = Record<string, () => Promise<void>>;

export interface ReadinessReport {
  ready: boolean;
  /** Each check's state: "ok" or "down: <why>". */
  checks: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 2000;

function bounded(name: string, check: () => Promise<void>): Promise<void> {
  return withinMs(check(), CHECK_TIMEOUT_MS, () => {
    throw new Error(`${name} did not answer within ${CHECK_TIMEOUT_MS} ms`);
  });
}

/** Runs every check at once, each bounded, and reports them all. */
export async function runChecks(checks: ReadinessChecks): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((n) => bounded(n, checks[n]!)));
  const out: Record<string, string> = {};
  results.forEach((r, i) => {
    out[names[i]!] = r.status === 'fulfilled' ? 'ok' : `down: ${(r.reason as Error).message}`;
  });
  return { ready: results.every((r) => r.status === 'fulfilled'), checks: out };
}

/** The readiness answer every process gives: its status code and the envelope's data and errors. */
export function readinessAnswer(report: ReadinessReport): {
  status: 200 | 503;
  data: { status: 'ready' | 'not ready'; checks: Record<string, string> };
  errors: ErrorItem[];
} {
  return {
    status: report.ready ? 200 : 503,
    data: { status: report.ready ? 'ready' : 'not ready', checks: report.checks },
    errors: Object.entries(report.checks)
      .filter(([, state]) => state !== 'ok')
      .map(([name, state]) => ({
        code: 'dependency_down',
        field: name,
        message: `${name} ${state}`,
      })),
  };
}
