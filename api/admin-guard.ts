import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, MemoryStore, rateLimit } from 'express-rate-limit';
import { TooManyRequestsError } from '../lib/domain/errors.js';
import type { Logger } from '../lib/platform/logger.js';
import { basicAuth, credentialsCheck, type AdminCredentials } from './admin.js';

/**
 * What stands in front of every admin route (Bull Board, dead letters, /metrics): a limit on failed
 * credential attempts per client IP, then HTTP Basic auth. One guard for all of them, so failures
 * on /metrics and on /admin count against the same budget.
 *
 * Only wrong credentials count, and they count as they arrive, so a burst of parallel guesses is
 * capped too, not only a sequence. A request without credentials (a browser's first ask) costs
 * nothing, and neither does one with the right credentials: Bull Board's page and an operator
 * retrying twenty jobs at once send many in parallel. (express-rate-limit's own
 * `skipSuccessfulRequests` would count those while they are in flight and refuse the right
 * password under its own load.) Once an IP has used up its failures every admin request from it
 * gets 429, the right password included, so a guesser learns nothing more until the window
 * passes. The count is per web process (memory store): with N web instances an IP gets up to
 * N × the limit, still far too few to guess a real password.
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
  const matches = credentialsCheck(credentials);
  // Checked once per request (two SHA-256 digests), then read by the limiter, the lock-out and
  // the auth itself.
  const verdicts = new WeakMap<Request, boolean>();
  const rightCredentials = (req: Request) => {
    let right = verdicts.get(req);
    if (right === undefined) {
      const header = req.get('authorization');
      right = header !== undefined && matches(header);
      verdicts.set(req, right);
    }
    return right;
  };
  const store = new MemoryStore();
  const clientKey = (req: Request) => ipKeyGenerator(req.ip ?? '');
  const refuse = (req: Request, res: Response): never => {
    const log = (res.locals.log as Logger | undefined) ?? logger;
    log.warn({ client_ip: req.ip, path: req.path }, 'admin: too many failed credential attempts');
    throw new TooManyRequestsError(
      'too many failed credential attempts; try again later',
      'authorization',
    );
  };
  const limiter = rateLimit({
    windowMs,
    limit,
    store,
    keyGenerator: clientKey,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    skip: (req) => req.get('authorization') === undefined || rightCredentials(req),
    handler: refuse,
  });
  // The limiter skips the right credentials; here they are refused too once the IP is out of tries.
  const refuseWhenLimited: RequestHandler = async (req, res, next) => {
    if (rightCredentials(req)) {
      const used = await store.get(clientKey(req));
      if (used && used.totalHits >= limit) {
        const resetMs = (used.resetTime?.getTime() ?? Date.now() + windowMs) - Date.now();
        res.set('Retry-After', String(Math.max(1, Math.ceil(resetMs / 1000))));
        refuse(req, res);
      }
    }
    next();
  };
  return [refuseWhenLimited, limiter, basicAuth(rightCredentials, 'Order Service admin')];
}
