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
      description: 'PostgreSQL connection URL.',
    }),
    dbPoolMax: variable({
      env: 'DB_POOL_MAX',
      rule: positiveInt.max(200),
      default: 10,
      description: 'Largest connection pool per process.',
    }),
  },
};
