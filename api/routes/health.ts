import { Router } from 'express';
import { runChecks, type ReadinessChecks } from '../../lib/health.js';
import { send } from '../envelope.js';

export type { ReadinessChecks };

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
