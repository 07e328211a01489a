import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../lib/platform/logger.js';
import type { Metrics } from '../lib/platform/metrics.js';
import { sendErrors } from './envelope.js';

const INCOMING_ID = /^[\w.:-]{1,128}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when it is sane, else a new one), a child
 * logger carrying it, and one access-log line when the response is done.
 */
export function requestContext(logger: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ req_id: requestId });
    res.locals.requestId = requestId;
    res.locals.log = log;
    res.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The route pattern, not the path: one series per route, whatever the ids.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      metrics?.httpDuration.observe(
        { method: req.method, route, status: String(res.statusCode) },
        ms / 1000,
      );
      const level = res.statusCode >= 500 ? 'error' : 'info';
      log[level](
        { method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms },
        'request',
      );
    });
    next();
  };
}

/** Bodies are JSON or nothing: anything else is 415 before a parser looks at it. */
export const requireJson: RequestHandler = (req, res, next) => {
  const hasBody =
    Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    sendErrors(res, 415, [
      {
        code: 'unsupported_media_type',
        field: 'content-type',
        message: 'send the body as application/json',
      },
    ]);
    return;
  }
  next();
};
