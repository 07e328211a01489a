import Joi from 'joi';

/**
 * Every setting the service reads, validated once at start-up. Names follow the original service
 * where it had one (CATALOG_SERVICE_API_URL, ...) and the platform's otherwise (PORT, DATABASE_URL,
 * REDIS_URL, Heroku Kafka's KAFKA_*). Defaults make a local run work against 127.0.0.1.
 */
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface Config {
  nodeEnv: string;
  port: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  databaseUrl: string;
  /** Largest pg pool per process. */
  dbPoolMax: number;
  redisUrl: string;
  /** Verify Redis's TLS certificate; false for Heroku Redis's self-signed one. */
  redisTlsVerify: boolean;
  /** BullMQ key prefix; braces make it a Redis Cluster hash tag so a queue's keys share a slot. */
  bullPrefix: string;
  catalogUrl?: string;
  paymentsUrl?: string;
  paymentsCallbackUrl: string;
  notificationsUrl?: string;
  /** Sent as X-API-Key on every outgoing peer call when set. */
  serviceToken?: string;
  /** Standard Webhooks secret (`whsec_<base64>`); when unset the payment callback is not verified. */
  paymentsWebhookSecret?: string;
  /** Bound on one call to a peer. */
  peerTimeoutMs: number;
  adminUser?: string;
  adminPassword?: string;
  kafka: {
    /** Broker addresses, host:port; from KAFKA_BOOTSTRAP_SERVERS or Heroku's KAFKA_URL. */
    brokers: string[];
    ssl: boolean;
    trustedCert?: string;
    clientCert?: string;
    clientCertKey?: string;
    sasl?: { mechanism: SaslMechanism; username: string; password: string };
    prefix: string;
    requestsTopic: string;
    responsesTopic: string;
    groupId: string;
    idempotent: boolean;
    /** The consumer's group session: how long the group waits for a silent member (a crashed
     * process) before giving its partitions to the others. */
    sessionTimeoutMs: number;
    clientId: string;
    devPort: number;
  };
  jobs: {
    attempts: number;
    backoffMs: number;
    concurrency: { payments: number; notifications: number; shipping: number; inbox: number };
    relayBatchSize: number;
    relayPollMs: number;
    reconcileAfterMs: number;
    reconcileEveryMs: number;
    retentionAgeHours: number;
    retentionEveryMs: number;
    retentionBatchSize: number;
  };
  /** Bound on a graceful shutdown; below Heroku's 30 s grace period. */
  shutdownTimeoutMs: number;
  /** Port for the worker's and consumer's health and metrics; 0 turns it off. */
  healthPort: number;
}

const url = Joi.string().uri({ scheme: ['http', 'https'] });
const positiveInt = Joi.number().integer().min(1);

const envSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  PORT: Joi.number().port().default(8000),
  LOG_LEVEL: Joi.string()
    .lowercase()
    .valid('trace', 'debug', 'info', 'warn', 'error', 'fatal')
    .default('info'),
  DATABASE_URL: Joi.string()
    .uri({ scheme: ['postgres', 'postgresql'] })
    .default('postgres://postgres@127.0.0.1:5432/order_service'),
  DB_POOL_MAX: positiveInt.max(200).default(10),
  REDIS_URL: Joi.string()
    .uri({ scheme: ['redis', 'rediss'] })
    .default('redis://127.0.0.1:6379'),
  REDIS_TLS_VERIFY: Joi.boolean().default(true),
  BULLMQ_PREFIX: Joi.string()
    .pattern(/^[^:\s]+$/, 'no colons or spaces')
    .default('{orders}'),
  CATALOG_SERVICE_API_URL: url,
  PAYMENTS_SERVICE_API_URL: url,
  PAYMENTS_CALLBACK_URL: url.default('http://127.0.0.1:8000/api/v1/orders/payment-callback'),
  NOTIFICATIONS_SERVICE_API_URL: url,
  CAPASHINO_SERVICE_ACCESS_TOKEN: Joi.string().allow(''),
  PAYMENTS_WEBHOOK_SECRET: Joi.string()
    .pattern(/^whsec_[A-Za-z0-9+/=]+$/, 'whsec_<base64>')
    .allow(''),
  PEER_TIMEOUT_MS: positiveInt.max(60000).default(3000),
  ADMIN_USER: Joi.string().allow(''),
  ADMIN_PASSWORD: Joi.string().allow(''),
  KAFKA_BOOTSTRAP_SERVERS: Joi.string().allow(''),
  KAFKA_URL: Joi.string().allow(''),
  KAFKA_TRUSTED_CERT: Joi.string().allow(''),
  KAFKA_CLIENT_CERT: Joi.string().allow(''),
  KAFKA_CLIENT_CERT_KEY: Joi.string().allow(''),
  KAFKA_SASL_MECHANISM: Joi.string().valid('plain', 'scram-sha-256', 'scram-sha-512').allow(''),
  KAFKA_SASL_USERNAME: Joi.string().allow(''),
  KAFKA_SASL_PASSWORD: Joi.string().allow(''),
  KAFKA_PREFIX: Joi.string().allow('').default(''),
  KAFKA_TOPIC: Joi.string().allow(''),
  KAFKA_SHIPPING_REQUESTS_TOPIC: Joi.string().default('shipping.requests'),
  KAFKA_SHIPPING_RESPONSES_TOPIC: Joi.string().default('shipping.responses'),
  KAFKA_GROUP_ID: Joi.string().default('order-service'),
  KAFKA_CLIENT_ID: Joi.string().default('order-service'),
  KAFKA_IDEMPOTENT: Joi.boolean().default(true),
  // Apache Kafka's default group.min/max.session.timeout.ms bound it.
  KAFKA_SESSION_TIMEOUT_MS: Joi.number().integer().min(6000).max(1800000).default(30000),
  KAFKA_DEV_PORT: Joi.number().port().default(9092),
  JOB_ATTEMPTS: positiveInt.max(100).default(8),
  JOB_BACKOFF_MS: positiveInt.default(500),
  PAYMENTS_CONCURRENCY: positiveInt.max(1000).default(16),
  NOTIFICATIONS_CONCURRENCY: positiveInt.max(1000).default(16),
  SHIPPING_CONCURRENCY: positiveInt.max(1000).default(16),
  INBOX_CONCURRENCY: positiveInt.max(1000).default(8),
  OUTBOX_RELAY_BATCH_SIZE: positiveInt.max(10000).default(500),
  OUTBOX_RELAY_POLL_MS: positiveInt.default(1000),
  RECONCILE_AFTER_MS: positiveInt.default(60000),
  RECONCILE_EVERY_MS: positiveInt.default(30000),
  RETENTION_AGE_HOURS: Joi.number().min(0).default(168),
  RETENTION_EVERY_MS: positiveInt.default(600000),
  RETENTION_BATCH_SIZE: positiveInt.max(100000).default(1000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.max(29000).default(25000),
  HEALTH_PORT: Joi.number().port().default(0),
}).unknown(true);

/** Every environment variable the service reads (the .env.example test keeps the file complete). */
export const CONFIG_VARIABLES: string[] = Object.keys(
  (envSchema.describe() as { keys: Record<string, unknown> }).keys,
);

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const blankToUndefined = (v: string | undefined): string | undefined =>
  v === undefined || v === '' ? undefined : v;

/** `kafka+ssl://host:9096,kafka+ssl://host2:9096` or `host:9092,host2:9092` → host:port list. */
export function parseBrokers(list: string): { brokers: string[]; ssl: boolean } {
  const parts = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let ssl = false;
  const brokers = parts.map((p) => {
    const m = /^([a-z+_]+):\/\/(.+)$/i.exec(p);
    if (!m) return p;
    if (m[1]!.toLowerCase().includes('ssl')) ssl = true;
    return m[2]!.replace(/\/+$/, '');
  });
  return { brokers, ssl };
}

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { error, value } = envSchema.validate(env, {
    abortEarly: false,
    convert: true,
    // joi's pattern messages quote the value; a value here may be a secret, so never echo it.
    messages: {
      'string.pattern.name': '{#label} must look like {#name}',
      'string.pattern.base': '{#label} has the wrong form',
    },
  });
  if (error) {
    throw new ConfigError(
      error.details.map(
        (d) => `${String(d.path.join('.'))}: ${d.message.replace(/^"[^"]*" /, '')}`,
      ),
    );
  }
  const v = value as Record<string, string | number | boolean | undefined>;
  const s = (k: string) => blankToUndefined(v[k] as string | undefined);
  const n = (k: string) => v[k] as number;

  const problems: string[] = [];
  const kafkaUrl = s('KAFKA_URL');
  const bootstrap = s('KAFKA_BOOTSTRAP_SERVERS');
  const parsed = parseBrokers(kafkaUrl ?? bootstrap ?? '');
  const clientCert = s('KAFKA_CLIENT_CERT');
  const clientCertKey = s('KAFKA_CLIENT_CERT_KEY');
  if (Boolean(clientCert) !== Boolean(clientCertKey)) {
    problems.push('KAFKA_CLIENT_CERT and KAFKA_CLIENT_CERT_KEY must be set together');
  }
  const mechanism = s('KAFKA_SASL_MECHANISM') as SaslMechanism | undefined;
  if (mechanism && (!s('KAFKA_SASL_USERNAME') || !s('KAFKA_SASL_PASSWORD'))) {
    problems.push(
      'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM',
    );
  }
  const adminUser = s('ADMIN_USER');
  const adminPassword = s('ADMIN_PASSWORD');
  if (Boolean(adminUser) !== Boolean(adminPassword)) {
    problems.push('ADMIN_USER and ADMIN_PASSWORD must be set together');
  }
  if (problems.length) throw new ConfigError(problems);

  const prefix = s('KAFKA_PREFIX') ?? '';
  const sharedTopic = s('KAFKA_TOPIC');
  return {
    nodeEnv: v.NODE_ENV as string,
    port: n('PORT'),
    logLevel: v.LOG_LEVEL as Config['logLevel'],
    databaseUrl: v.DATABASE_URL as string,
    dbPoolMax: n('DB_POOL_MAX'),
    redisUrl: v.REDIS_URL as string,
    redisTlsVerify: v.REDIS_TLS_VERIFY as boolean,
    bullPrefix: v.BULLMQ_PREFIX as string,
    catalogUrl: s('CATALOG_SERVICE_API_URL'),
    paymentsUrl: s('PAYMENTS_SERVICE_API_URL'),
    paymentsCallbackUrl: v.PAYMENTS_CALLBACK_URL as string,
    notificationsUrl: s('NOTIFICATIONS_SERVICE_API_URL'),
    serviceToken: s('CAPASHINO_SERVICE_ACCESS_TOKEN'),
    paymentsWebhookSecret: s('PAYMENTS_WEBHOOK_SECRET'),
    peerTimeoutMs: n('PEER_TIMEOUT_MS'),
    adminUser,
    adminPassword,
    kafka: {
      brokers: parsed.brokers,
      ssl: parsed.ssl || Boolean(s('KAFKA_TRUSTED_CERT')),
      trustedCert: s('KAFKA_TRUSTED_CERT'),
      clientCert,
      clientCertKey,
      sasl: mechanism
        ? {
            mechanism,
            username: s('KAFKA_SASL_USERNAME')!,
            password: s('KAFKA_SASL_PASSWORD')!,
          }
        : undefined,
      prefix,
      requestsTopic: prefix + (sharedTopic ?? (v.KAFKA_SHIPPING_REQUESTS_TOPIC as string)),
      responsesTopic: prefix + (sharedTopic ?? (v.KAFKA_SHIPPING_RESPONSES_TOPIC as string)),
      groupId: prefix + (v.KAFKA_GROUP_ID as string),
      idempotent: v.KAFKA_IDEMPOTENT as boolean,
      sessionTimeoutMs: n('KAFKA_SESSION_TIMEOUT_MS'),
      clientId: v.KAFKA_CLIENT_ID as string,
      devPort: n('KAFKA_DEV_PORT'),
    },
    jobs: {
      attempts: n('JOB_ATTEMPTS'),
      backoffMs: n('JOB_BACKOFF_MS'),
      concurrency: {
        payments: n('PAYMENTS_CONCURRENCY'),
        notifications: n('NOTIFICATIONS_CONCURRENCY'),
        shipping: n('SHIPPING_CONCURRENCY'),
        inbox: n('INBOX_CONCURRENCY'),
      },
      relayBatchSize: n('OUTBOX_RELAY_BATCH_SIZE'),
      relayPollMs: n('OUTBOX_RELAY_POLL_MS'),
      reconcileAfterMs: n('RECONCILE_AFTER_MS'),
      reconcileEveryMs: n('RECONCILE_EVERY_MS'),
      retentionAgeHours: n('RETENTION_AGE_HOURS'),
      retentionEveryMs: n('RETENTION_EVERY_MS'),
      retentionBatchSize: n('RETENTION_BATCH_SIZE'),
    },
    shutdownTimeoutMs: n('SHUTDOWN_TIMEOUT_MS'),
    healthPort: n('HEALTH_PORT'),
  };
}

/** Entry points call this: a bad configuration prints one line per problem and exits 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
