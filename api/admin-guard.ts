import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { TooManyRequestsError } from '../lib/domain/errors.js';
import type { Logger } from '../lib/platform/logger.js';
import { basicAuth, type AdminCredentials } from './admin.js';

/**
 * What stands in front of every admin route (Bull Board, dead letters, /metrics): a limit on failed
 * credential attempts per client IP, then HTTP Basic auth. One guard for all of them, so failures
 * on /metrics and on /admin count against the same budget.
 *
 * express-rate-limit counts each request as it arrives (so a burst of parallel guesses is capped
 * too, not only a sequence) and takes back the ones that did not fail. Only a 401 to a request
 * that carried credentials is a failure: a browser's first, credential-less request costs nothing,
 * and ops using the right password are never limited by their own use. Once an IP is over the
 * limit every admin request from it gets 429, the right password included, so a guesser learns
 * nothing more until the window passes. The count is per web process (memory store): with N web
 * instances an IP gets up to N × the limit, still far too few to guess a real password.
 */
export const ADMIN_FAILED_ATTEMPTS_ALLOWED = 10;
export const ADMIN_FAILED_ATTEMPTS_WINDOW_MS = 15 * 60_000;

export interface AdminGuardOptions {
  /** Failed attempts an IP may make per window before it is refused with 429. */
  limit?: number;
  windowMs?: number;
  logger: Logger;
}

export function adminGuard(
  credentials: AdminCredentials,
  {
    limit = ADMIN_FAILED_ATTEMPTS_ALLOWED,
    windowMs = ADMIN_FAILED_ATTEMPTS_WINDOW_MS,
    logger,
  }: AdminGuardOptions,
): RequestHandler[] {
  const limiter = rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    skipSuccessfulRequests: true,
    requestWasSuccessful: (req, res) =>
      res.statusCode !== 401 || req.get('authorization') === undefined,
    handler: (req, res) => {
      const log = (res.locals.log as Logger | undefined) ?? logger;
      log.warn({ client_ip: req.ip, path: req.path }, 'admin: too many failed credential attempts');
      throw new TooManyRequestsError(
        'too many failed credential attempts; try again later',
        'authorization',
      );
    },
  });
  return [limiter, basicAuth(credentials, 'Order Service admin')];
}
