import Joi from 'joi';
import { positiveInt, variable } from './define.js';

/** PostgreSQL, the source of truth. */
export const database = {
  title: 'PostgreSQL',
  variables: {
    databaseUrl: variable({
      env: 'DATABASE_URL',
      rule: Joi.string().uri({ scheme: ['postgres', 'postgresql'] }),
      default: 'postgres://postgres@127.0.0.1:5432/order_service',
      // The platform's URL carries the password.
      secret: true,
      description:
        'PostgreSQL connection URL; may point at PgBouncer in transaction pooling (see ' +
        'DATABASE_PREPARED_STATEMENTS and DATABASE_DIRECT_URL).',
    }),
    databaseDirectUrl: variable({
      env: 'DATABASE_DIRECT_URL',
      rule: Joi.string()
        .uri({ scheme: ['postgres', 'postgresql'] })
        .allow(''),
      secret: true,
      description:
        "A direct connection to PostgreSQL, past any pooler, for the relay's LISTEN and the " +
        "release's migration lock: both need a session of their own. Unset: DATABASE_URL.",
    }),
    databasePreparedStatements: variable({
      env: 'DATABASE_PREPARED_STATEMENTS',
      rule: Joi.boolean(),
      default: true,
      description:
        'Named prepared statements on the hot paths; false behind PgBouncer before 1.21 in ' +
        'transaction pooling (or without max_prepared_statements): about +25 % Postgres CPU per ' +
        'order (docs/scaling.md).',
    }),
    dbPoolMax: variable({
      env: 'DB_POOL_MAX',
      rule: positiveInt.max(200),
      default: 10,
      description: 'Largest connection pool per process.',
    }),
  },
};

/** Where a session of its own is needed (LISTEN, a session advisory lock): never a pooler. */
export function directDatabaseUrl(settings: {
  databaseUrl: string;
  databaseDirectUrl?: string;
}): string {
  return settings.databaseDirectUrl || settings.databaseUrl;
}
