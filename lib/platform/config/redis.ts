import Joi from 'joi';
import { positiveInt, variable } from './define.js';

const shards = (env: string, queue: string) =>
  variable({
    env,
    rule: positiveInt.max(64),
    default: 1,
    description:
      `BullMQ queues the ${queue} queue is split into, by order id (each its own hash tag on a ` +
      'cluster; the concurrency is spread over them). Raise it, never lower it while jobs wait.',
  });

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
    redisClusterNodes: variable({
      env: 'REDIS_CLUSTER_NODES',
      rule: Joi.string()
        .allow('')
        .pattern(/^\s*[^\s,]+:\d{1,5}\s*(,\s*[^\s,]+:\d{1,5}\s*)*$/, 'host:port,host:port')
        // A port past 65535 fits the pattern and fails only at the first connection.
        .custom((value: string, helpers) =>
          value.split(',').every((seed) => {
            const port = Number(seed.trim().split(':').pop());
            return seed.trim() === '' || (port >= 1 && port <= 65535);
          })
            ? value
            : helpers.error('any.invalid'),
        )
        .messages({ 'any.invalid': 'each port must be from 1 to 65535' }),
      description:
        'Seed nodes of a Redis Cluster (`host:port,host:port`); when set, every connection is a ' +
        'cluster one, with TLS and the password taken from REDIS_URL (whose host is then unused), and each queue gets its own hash tag. Unset: the one Redis of REDIS_URL.',
      example: '',
    }),
    bullPrefix: variable({
      env: 'BULLMQ_PREFIX',
      rule: Joi.string().pattern(/^[^:\s]+$/, 'no colons or spaces'),
      default: '{orders}',
      description:
        'BullMQ key prefix, no colons or spaces. On one Redis it is used as given; on a cluster ' +
        'the service makes one hash tag per queue from it, braces dropped (`{orders:payments}`).',
    }),
    queueShards: {
      payments: shards('QUEUE_SHARDS_PAYMENTS', 'payments'),
      notifications: shards('QUEUE_SHARDS_NOTIFICATIONS', 'notifications'),
      shipping: shards('QUEUE_SHARDS_SHIPPING', 'shipping'),
      inbox: shards('QUEUE_SHARDS_INBOX', 'inbox'),
      refunds: shards('QUEUE_SHARDS_REFUNDS', 'refunds'),
      cancellations: shards('QUEUE_SHARDS_CANCELLATIONS', 'cancellations'),
      'payment-checks': shards('QUEUE_SHARDS_PAYMENT_CHECKS', 'payment-checks'),
      webhooks: shards('QUEUE_SHARDS_WEBHOOKS', 'webhooks'),
    },
  },
};
