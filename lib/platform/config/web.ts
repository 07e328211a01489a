import Joi from 'joi';
import { variable, type Settings } from './define.js';

export const ADMIN_PASSWORD_MIN_LENGTH = 12;

/** Passwords a guesser tries first, docker-compose's among them; compared lower-cased. */
const KNOWN_PASSWORDS = new Set([
  'change-me',
  'changeme',
  'change_me',
  'admin',
  'administrator',
  'password',
  'secret',
  'letmein',
  'qwerty',
  '12345678',
  '123456789012',
  'password1234',
  'adminadminadmin',
]);

/** The web process: its port, the payments webhook and the admin pages. */
export const web = {
  title: 'Web process',
  variables: {
    port: variable({
      env: 'PORT',
      rule: Joi.number().port(),
      default: 8000,
      description:
        'HTTP port of the web process (the platform sets it; 8000 as the original service).',
    }),
    paymentsWebhookSecret: variable({
      env: 'PAYMENTS_WEBHOOK_SECRET',
      rule: Joi.string()
        .pattern(/^whsec_[A-Za-z0-9+/=]+$/, 'whsec_<base64>')
        .allow(''),
      secret: true,
      description:
        'Standard Webhooks secret, `whsec_` and base64 (`openssl rand -base64 24`). Set: unsigned ' +
        'or badly signed payment callbacks get 401. Unset: not verified, and a production web ' +
        'process refuses to start (see PAYMENTS_WEBHOOK_UNSIGNED).',
    }),
    paymentsWebhookUnsigned: variable({
      env: 'PAYMENTS_WEBHOOK_UNSIGNED',
      rule: Joi.boolean(),
      default: false,
      description:
        'true lets a production web process start without PAYMENTS_WEBHOOK_SECRET, taking ' +
        'payment callbacks unsigned (anyone who can reach the callback URL can mark orders ' +
        'paid). Only for a Payments that cannot sign.',
    }),
    adminUser: variable({
      env: 'ADMIN_USER',
      rule: Joi.string().allow(''),
      description:
        'HTTP Basic user of the admin pages (Bull Board, dead letters, metrics, webhook ' +
        'subscriptions), with ADMIN_PASSWORD. Both unset: the admin pages are off (404).',
    }),
    adminPassword: variable({
      env: 'ADMIN_PASSWORD',
      rule: Joi.string().allow(''),
      secret: true,
      description:
        'HTTP Basic password of the admin pages, with ADMIN_USER. A production web process ' +
        `refuses one shorter than ${ADMIN_PASSWORD_MIN_LENGTH} characters or a well-known one ` +
        "(docker-compose's `change-me`, `admin`, ...).",
    }),
    adminFailedAttemptsLimit: variable({
      env: 'ADMIN_FAILED_ATTEMPTS_LIMIT',
      rule: Joi.number().integer().min(1),
      default: 10,
      description:
        'Failed admin logins one client IP may make per 15 minutes; past it every admin request ' +
        'from that IP gets 429 until the window passes. Counted per web process.',
    }),
    adminGroupRetryIntervalMs: variable({
      env: 'ADMIN_GROUP_RETRY_INTERVAL_MS',
      rule: Joi.number().integer().min(0),
      default: 10_000,
      description:
        'Least time (ms) between two group actions of the ops console (retrying a group of ' +
        'failed jobs, replaying a group of dead letters), per web process; a sooner one gets 429 ' +
        'with Retry-After.',
    }),
    otelTraceUrlTemplate: variable({
      env: 'OTEL_TRACE_URL_TEMPLATE',
      // Not Joi's uri(): the braces of `{trace_id}` are no URI characters until replaced.
      rule: Joi.string()
        .pattern(/^https?:\/\/[^\s]*\{trace_id\}[^\s]*$/, 'an http(s) URL with {trace_id}')
        .allow(''),
      description:
        "A trace's page in your tracing UI, with `{trace_id}` where the id goes (Jaeger: " +
        '`https://jaeger.example/trace/{trace_id}`). Set: the order journey page links to its ' +
        'trace. Unset: it shows the trace id alone.',
    }),
    trustProxyHops: variable({
      env: 'TRUST_PROXY_HOPS',
      // Blank as .env.example writes it: the platform's default then applies.
      rule: Joi.number().integer().min(0).max(10).allow(''),
      description:
        'Proxies in front of the web process that append to X-Forwarded-For; the client IP (what ' +
        'the admin login limit counts by) is read that many hops back. Unset: 1 on Heroku (DYNO ' +
        'set: its router), else 0. Too large a value would let a client choose its own IP.',
    }),
    dyno: variable({
      env: 'DYNO',
      rule: Joi.string().allow(''),
      description:
        "Set by Heroku on each dyno (`web.1`); only read to know that Heroku's router is in " +
        'front (TRUST_PROXY_HOPS). Never set it by hand.',
    }),
  },
};

export function webProblems(c: Settings<typeof web.variables>): string[] {
  return Boolean(c.adminUser) !== Boolean(c.adminPassword)
    ? ['ADMIN_USER and ADMIN_PASSWORD must be set together']
    : [];
}

/** Proxies to trust: as configured, else the one router of a platform known to put one there. */
export function trustProxyHopsOf(c: Settings<typeof web.variables>): number {
  return c.trustProxyHops ?? (c.dyno ? 1 : 0);
}

/**
 * What a production web process refuses to start with: defaults that are fine on a laptop and
 * unsafe where the callback URL and the admin pages face the internet. Never echoes a value.
 */
export function webProductionProblems(c: Settings<typeof web.variables>): string[] {
  const problems: string[] = [];
  if (!c.paymentsWebhookSecret && !c.paymentsWebhookUnsigned) {
    problems.push(
      'PAYMENTS_WEBHOOK_SECRET is required in production (unsigned payment callbacks would let ' +
        'anyone mark an order paid); set PAYMENTS_WEBHOOK_UNSIGNED=true to accept them anyway',
    );
  }
  const password = c.adminPassword;
  if (password && KNOWN_PASSWORDS.has(password.toLowerCase())) {
    problems.push('ADMIN_PASSWORD is a well-known default; production needs a random one');
  } else if (password && password.length < ADMIN_PASSWORD_MIN_LENGTH) {
    problems.push(
      `ADMIN_PASSWORD is shorter than ${ADMIN_PASSWORD_MIN_LENGTH} characters; production needs a ` +
        'random one (`openssl rand -base64 24`)',
    );
  }
  return problems;
}
