import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type Express, type Request, type RequestHandler } from 'express';
import type { Config } from '../lib/platform/config.js';
import { UnauthorizedError } from '../lib/domain/errors.js';
import { adminPageContentSecurityPolicy } from './admin-csp.js';

/**
 * The admin surface of the web process: Bull Board behind HTTP Basic auth. Without credentials
 * configured it is not mounted at all, so `/admin/*` is a plain 404 and never an open dashboard
 * (board access is Redis access: it can retry, remove and obliterate jobs).
 */
export const ADMIN_PATH = '/admin';
export const BOARD_PATH = `${ADMIN_PATH}/queues`;

export interface AdminCredentials {
  user: string;
  password: string;
}

/** The configured credentials, or undefined when the admin surface is off. */
export function adminCredentials(
  config: Pick<Config, 'adminUser' | 'adminPassword'>,
): AdminCredentials | undefined {
  const { adminUser: user, adminPassword: password } = config;
  return user && password ? { user, password } : undefined;
}

// Hashing first gives both sides one length, so timingSafeEqual neither throws nor leaks the length.
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const sameSecret = (a: Buffer, b: string) => timingSafeEqual(a, digest(b));

/**
 * Whether an `Authorization` header carries the configured Basic credentials, compared in
 * constant time. Both comparisons always run, so the time taken does not tell which half was wrong.
 */
export function credentialsCheck(credentials: AdminCredentials): (header: string) => boolean {
  const user = digest(credentials.user);
  const password = digest(credentials.password);
  return (header) => {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const userOk = sameSecret(user, colon < 0 ? '' : decoded.slice(0, colon));
    const passwordOk = sameSecret(password, colon < 0 ? '' : decoded.slice(colon + 1));
    return colon >= 0 && userOk && passwordOk;
  };
}

/**
 * The user name of a request's Basic credentials, for audit lines. Read only behind the guard,
 * which has checked them; never the password.
 */
export function adminUserOf(req: Request): string {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(req.get('authorization') ?? '');
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  return colon < 0 ? '' : decoded.slice(0, colon);
}

/**
 * HTTP Basic auth: on when `rightCredentials` says the request carries the configured ones
 * (`credentialsCheck`), else 401 with a challenge.
 */
export function basicAuth(
  rightCredentials: (req: Request) => boolean,
  realm: string,
): RequestHandler {
  const challenge = `Basic realm="${realm}", charset="UTF-8"`;
  return (req, res, next) => {
    if (rightCredentials(req)) {
      next();
      return;
    }
    res.set('WWW-Authenticate', challenge);
    throw new UnauthorizedError('admin credentials are missing or wrong', 'authorization');
  };
}

/**
 * The board page's own CSP (api/admin-csp.ts). What the installed UI (@bull-board/ui 9.10,
 * dist/index.ejs and its bundles) loads: same-origin script files (its one inline `<script
 * type="application/json">` is data, never run: no 'unsafe-inline' or eval for scripts); style
 * attributes and a `<style>` element on its loading screen; IBM Plex from Google Fonts; `data:` SVG
 * icons in its CSS. helmet's default `upgrade-insecure-requests` would blank it over plain http
 * (development, or any non-localhost host); in production every URL the page loads is relative or
 * https already. helmet's `https:` font and style sources are narrowed to the two Google Fonts
 * hosts.
 */
export const boardContentSecurityPolicy: RequestHandler = adminPageContentSecurityPolicy({
  styleSrc: ['https://fonts.googleapis.com'],
  fontSrc: ["'self'", 'data:', 'https://fonts.gstatic.com'],
});

export interface AdminRouterOptions {
  /** What every path under it passes first: api/admin-guard.ts (failure limit, Basic auth). */
  guard: RequestHandler[];
  /** The queues the board shows; their owner closes them. */
  queues: readonly Queue[];
  /** Other admin endpoints (dead letters), mounted under ADMIN_PATH behind the same credentials. */
  routes?: { path: string; router: Router }[];
}

/** Mount at ADMIN_PATH. Every path under it needs the credentials, the board's API included. */
export function adminRouter({ guard, queues, routes = [] }: AdminRouterOptions): Router {
  const serverAdapter = new ExpressAdapter().setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q)),
    // @bull-board/express 9.10.1 pins its own @bull-board/api 9.10.1 beside our 9.10.2: the classes
    // match at run time, but their private fields make TypeScript see two unrelated types.
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Order Service queues' } },
  });
  // An express sub-app (its typings say `any`), with express's own default of naming itself.
  const board = serverAdapter.getRouter() as Express;
  board.disable('x-powered-by');
  const router = Router();
  router.use(...guard);
  router.use(BOARD_PATH.slice(ADMIN_PATH.length), boardContentSecurityPolicy, board);
  for (const r of routes) router.use(r.path, r.router);
  return router;
}
