import type { ErrorItem } from './envelope.js';
import type { Logger } from './logger.js';
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
  /**
   * Each check's state: "ok", "down", or "down: " and the check's own words (CheckDown, or "no
   * answer within 2000 ms"). Never the dependency's own error: it can hold hosts, ports, user names and server versions, and /health/ready is
   * open to anyone who reaches the process. The error goes to the log instead.
   */
  checks: Record<string, string>;
  /** Warnings of the checks that gave one, by check name. */
  warnings: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 2000;

/** The bound's own words: safe to answer with, unlike a dependency's error. */
class CheckTimeout extends Error {
  override name = 'CheckTimeout';
}

/**
 * A check's failure in words written for the answer (what is wrong, never a dependency's own error
 * text): reported as `down: <message>`, where any other error is reported as `down`.
 */
export class CheckDown extends Error {
  override name = 'CheckDown';
}

function bounded(check: ReadinessCheck): ReturnType<ReadinessCheck> {
  return withinMs(check(), CHECK_TIMEOUT_MS, () => {
    throw new CheckTimeout(`no answer within ${CHECK_TIMEOUT_MS} ms`);
  });
}

/** Runs every check at once, each bounded, and reports them all; a failure's error is logged. */
export async function runChecks(checks: ReadinessChecks, logger: Logger): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((n) => bounded(checks[n]!)));
  const out: Record<string, string> = {};
  const warnings: Record<string, string> = {};
  results.forEach((r, i) => {
    const name = names[i]!;
    if (r.status === 'rejected') {
      const err: unknown = r.reason;
      out[name] =
        err instanceof CheckTimeout || err instanceof CheckDown ? `down: ${err.message}` : 'down';
      logger.warn({ err, check: name }, 'readiness check failed');
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
