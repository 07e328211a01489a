import { Router } from 'express';
import { readinessAnswer, runChecks, type ReadinessChecks } from '../../lib/platform/health.js';
import type { Logger } from '../../lib/platform/logger.js';
import { send } from '../envelope.js';

export type { ReadinessChecks };

export function healthRouter(checks: ReadinessChecks, logger: Logger): Router {
  const router = Router();
  router.get('/live', (_req, res) => send(res, 200, { status: 'ok' }));
  router.get('/ready', async (_req, res) => {
    const { status, data, errors } = readinessAnswer(await runChecks(checks, logger));
    send(res, status, data, {}, errors);
  });
  return router;
}
