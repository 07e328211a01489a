import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** What one admin page loads beyond what every admin page may. */
export interface PageSources {
  /** Style sources beside 'self' and 'unsafe-inline'. */
  styleSrc?: string[];
  /** The page's font sources; without them the header has no font-src (default-src rules). */
  fontSrc?: string[];
}

/**
 * An admin page's CSP, in place of the app-wide helmet one on its path: only same-origin script
 * files (no inline script, no script in attributes), same-origin requests and form posts, inline
 * styles, same-origin and `data:` images, no plugins, no framing. Without helmet's default
 * `upgrade-insecure-requests`: over plain http on any host but localhost the browser would rewrite
 * the page's own script and request URLs to https, where nothing answers. Over https in
 * production it changes nothing. The directives keep one order, so a page's header reads the same
 * whatever it adds.
 */
export function adminPageContentSecurityPolicy(page: PageSources = {}): RequestHandler {
  return helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      baseUri: ["'self'"],
      scriptSrc: ["'self'"],
      scriptSrcAttr: ["'none'"],
      styleSrc: ["'self'", "'unsafe-inline'", ...(page.styleSrc ?? [])],
      ...(page.fontSrc ? { fontSrc: page.fontSrc } : {}),
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  });
}
