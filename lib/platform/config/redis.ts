import Joi from 'joi';
import { variable } from './define.js';

/** Redis, where BullMQ keeps the queues. */
export const redis = {
  title: 'Redis',
  variables: {
    redisUrl: variable({
      env: 'REDIS_URL',
      rule: Joi.string().uri({ scheme: ['redis', 'rediss'] }),
      default: 'redis://127.0.0.1:6379',
      // The platform's URL carries the password.
      secret: true,
      description:
        'Redis for BullMQ; `rediss://` turns TLS on. Must run with maxmemory-policy noeviction.',
    }),
    redisTlsVerify: variable({
      env: 'REDIS_TLS_VERIFY',
      rule: Joi.boolean(),
      default: true,
      description:
        "Verify Redis's TLS certificate (`rediss://`); false for Heroku Redis's self-signed one.",
    }),
    bullPrefix: variable({
      env: 'BULLMQ_PREFIX',
      rule: Joi.string().pattern(/^[^:\s]+$/, 'no colons or spaces'),
      default: '{orders}',
      description:
        "BullMQ key prefix; braces make it a Redis Cluster hash tag so a queue's keys share a " +
        'slot. No colons or spaces.',
    }),
  },
};
