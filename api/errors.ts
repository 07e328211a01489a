import type { ErrorRequestHandler, RequestHandler } from 'express';
import {
  AppError,
  PeerUnavailableError,
  ValidationError,
  type AppErrorCode,
} from '../lib/domain/errors.js';
import type { Logger } from '../lib/platform/logger.js';
import { isDatabaseUnavailable } from '../lib/platform/postgres-errors.js';
import { problemsToErrors, sendErrors } from './envelope.js';

/** Each typed error's HTTP status, by its code: a new code does not compile until it has one. */
const HTTP_STATUS: Record<AppErrorCode, number> = {
  validation_error: 400,
  unauthorized: 401,
  not_found: 404,
  item_not_found: 404,
  conflict: 409,
  not_cancellable: 409,
  out_of_stock: 409,
  too_many_requests: 429,
  peer_rejected: 502,
  peer_contract_violation: 502,
  peer_unavailable: 503,
};

/** The HTTP status a typed error is answered with. */
export function httpStatusOf(err: AppError): number {
  return HTTP_STATUS[err.code];
}

/** Seconds a client should wait before retrying when a peer is unavailable and did not say. */
const DEFAULT_RETRY_AFTER_S = 2;

interface HttpParserError extends Error {
  type?: string;
  status?: number;
}

export const notFoundRoute: RequestHandler = (req, res) => {
  sendErrors(res, 404, [
    { code: 'not_found', field: null, message: `no route for ${req.method} ${req.path}` },
  ]);
};

/**
 * The one place errors become HTTP answers. Typed errors are answered by their code's status; anything else is a
 * bug, logged with its stack and answered with a bare 500: no stack, SQL or peer detail leaks.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const log = (res.locals.log as Logger | undefined) ?? logger;
    if (res.headersSent) {
      log.error({ err }, 'error after the response started');
      res.end();
      return;
    }
    const parserError = err as HttpParserError;
    if (parserError?.type === 'entity.parse.failed') {
      sendErrors(res, 400, [
        { code: 'malformed_json', field: 'body', message: 'request body is not valid JSON' },
      ]);
      return;
    }
    if (parserError?.type === 'entity.too.large') {
      sendErrors(res, 413, [
        { code: 'payload_too_large', field: 'body', message: 'request body is too large' },
      ]);
      return;
    }
    // The router could not percent-decode a path parameter (`/orders/%zz`); it does not say which.
    if (err instanceof URIError && parserError.status === 400) {
      sendErrors(res, 400, [
        {
          code: 'malformed_path',
          field: 'path',
          message: 'the URL path is not valid percent-encoding',
        },
      ]);
      return;
    }
    if (err instanceof ValidationError) {
      sendErrors(res, 400, problemsToErrors(err.code, err.problems));
      return;
    }
    if (err instanceof AppError) {
      const status = httpStatusOf(err);
      if (err instanceof PeerUnavailableError) {
        res.set('Retry-After', String(err.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_S));
        log.warn({ err }, 'peer unavailable');
      } else if (status >= 500) {
        log.error({ err }, 'request failed');
      }
      // Peer details stay in the log; the client learns which peer and what kind of failure.
      const message =
        err instanceof PeerUnavailableError
          ? `${err.peer} is unavailable, try again later`
          : status >= 500
            ? 'an upstream service answered in a way this service could not use'
            : err.message;
      sendErrors(res, status, [{ code: err.code, field: err.field ?? null, message }]);
      return;
    }
    if (isDatabaseUnavailable(err)) {
      log.warn({ err }, 'database unavailable');
      res.set('Retry-After', String(DEFAULT_RETRY_AFTER_S));
      sendErrors(res, 503, [
        {
          code: 'unavailable',
          field: null,
          message: 'the service is briefly unavailable, try again later',
        },
      ]);
      return;
    }
    if (parserError?.status && parserError.status >= 400 && parserError.status < 500) {
      sendErrors(res, parserError.status, [
        { code: 'bad_request', field: null, message: 'bad request' },
      ]);
      return;
    }
    log.error({ err, method: req.method, path: req.path }, 'unhandled error');
    sendErrors(res, 500, [{ code: 'internal_error', field: null, message: 'internal error' }]);
  };
}
