import { Router } from 'express';
import { send } from '../envelope.js';

/** A named dependency check: resolves when the dependency answers, rejects with why it does not. */
export type ReadinessChecks = Record<string, () => Promise<void>>;

const CHECK_TIMEOUT_MS = 2000;

function withTimeout(name: string, check: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS,
    );
  });
  return Promise.race([check(), timeout]).finally(() => clearTimeout(timer));
}

/** Runs every check at once; returns each one's state, "ok" or "down: <why>". */
export async function runChecks(
  checks: ReadinessChecks,
): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((n) => withTimeout(n, checks[n]!)));
  const out: Record<string, string> = {};
  results.forEach((r, i) => {
    out[names[i]!] = r.status === 'fulfilled' ? 'ok' : `down: ${(r.reason as Error).message}`;
  });
  return { ready: results.every((r) => r.status === 'fulfilled'), checks: out };
}

export function healthRouter(checks: ReadinessChecks): Router {
  const router = Router();
  router.get('/live', (_req, res) => send(res, 200, { status: 'ok' }));
  router.get('/ready', async (_req, res) => {
    const result = await runChecks(checks);
    if (result.ready) {
      send(res, 200, { status: 'ready', checks: result.checks });
      return;
    }
    const down = Object.entries(result.checks).filter(([, v]) => v !== 'ok');
    res.status(503).json({
      data: { status: 'not ready', checks: result.checks },
      meta: { request_id: res.locals.requestId as string },
      errors: down.map(([name, state]) => ({
        code: 'dependency_down',
        field: name,
        message: `${name} ${state}`,
      })),
    });
  });
  return router;
}
