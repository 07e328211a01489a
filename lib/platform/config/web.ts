import Joi from 'joi';
import { variable, type Settings } from './define.js';

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
        'Standard Webhooks secret, `whsec_` and base64 (`openssl rand -base64 24`). When set, ' +
        'unsigned or badly signed payment callbacks get 401; unset, callbacks are not verified.',
    }),
    adminUser: variable({
      env: 'ADMIN_USER',
      rule: Joi.string().allow(''),
      description:
        'HTTP Basic user of the admin pages (Bull Board, dead letters, metrics), with ' +
        'ADMIN_PASSWORD. Both unset: the admin pages are off (404).',
    }),
    adminPassword: variable({
      env: 'ADMIN_PASSWORD',
      rule: Joi.string().allow(''),
      secret: true,
      description: 'HTTP Basic password of the admin pages, with ADMIN_USER.',
    }),
    adminFailedAttemptsLimit: variable({
      env: 'ADMIN_FAILED_ATTEMPTS_LIMIT',
      rule: Joi.number().integer().min(1),
      default: 10,
      description:
        'Failed admin logins one client IP may make per 15 minutes; past it every admin request ' +
        'from that IP gets 429 until the window passes. Counted per web process.',
    }),
    trustProxyHops: variable({
      env: 'TRUST_PROXY_HOPS',
      rule: Joi.number().integer().min(0).max(10),
      default: 1,
      description:
        "Proxies in front of the web process that append to X-Forwarded-For: 1 behind Heroku's " +
        'router, 0 when clients connect directly. The client IP (what the admin login limit ' +
        'counts by) is read that many hops back; too high a value lets a client pick its own IP.',
    }),
  },
};

export function webProblems(c: Settings<typeof web.variables>): string[] {
  return Boolean(c.adminUser) !== Boolean(c.adminPassword)
    ? ['ADMIN_USER and ADMIN_PASSWORD must be set together']
    : [];
}
