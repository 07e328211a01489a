import Joi from 'joi';
import { oneOf, variable, type Settings } from './define.js';

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

const text = Joi.string().allow('');

/**
 * Kafka, for the shipping requests and responses. These are the variables as set; the config's
 * `kafka` is derived from them by kafkaSettings (brokers, TLS, SASL, prefixed names).
 */
export const kafka = {
  title: 'Kafka',
  variables: {
    bootstrapServers: variable({
      env: 'KAFKA_BOOTSTRAP_SERVERS',
      rule: text,
      neededBy: ['worker', 'consumer'],
      description:
        'Comma list of host:port (or KAFKA_URL). Unset with KAFKA_URL unset, `npm run dev` ' +
        'starts the in-repo development broker.',
    }),
    url: variable({
      env: 'KAFKA_URL',
      rule: text,
      neededBy: ['worker', 'consumer'],
      description:
        "Heroku Kafka's `kafka+ssl://host:port,...` list; takes precedence over " +
        'KAFKA_BOOTSTRAP_SERVERS, and `+ssl` turns TLS on.',
    }),
    trustedCert: variable({
      env: 'KAFKA_TRUSTED_CERT',
      rule: text,
      description: "PEM of the brokers' CA (Heroku Kafka sets it); turns TLS on.",
    }),
    clientCert: variable({
      env: 'KAFKA_CLIENT_CERT',
      rule: text,
      description: 'PEM client certificate (Heroku Kafka sets it), with KAFKA_CLIENT_CERT_KEY.',
    }),
    clientCertKey: variable({
      env: 'KAFKA_CLIENT_CERT_KEY',
      rule: text,
      secret: true,
      description: 'PEM key of KAFKA_CLIENT_CERT (Heroku Kafka sets it).',
    }),
    saslMechanism: variable({
      env: 'KAFKA_SASL_MECHANISM',
      rule: oneOf(SASL_MECHANISMS).allow(''),
      description: 'Optional SASL, with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.',
    }),
    saslUsername: variable({ env: 'KAFKA_SASL_USERNAME', rule: text, description: 'SASL user.' }),
    saslPassword: variable({
      env: 'KAFKA_SASL_PASSWORD',
      rule: text,
      secret: true,
      description: 'SASL password.',
    }),
    prefix: variable({
      env: 'KAFKA_PREFIX',
      rule: text,
      default: '',
      description: 'Prefix of topic and group names (Heroku Kafka multi-tenant plans need it).',
    }),
    topic: variable({
      env: 'KAFKA_TOPIC',
      rule: text,
      description:
        "The original service's single topic for both directions; when set it overrides the " +
        'two topics below.',
    }),
    requestsTopic: variable({
      env: 'KAFKA_SHIPPING_REQUESTS_TOPIC',
      rule: Joi.string(),
      default: 'shipping.requests',
      description: 'Topic of the shipping requests this service sends.',
    }),
    responsesTopic: variable({
      env: 'KAFKA_SHIPPING_RESPONSES_TOPIC',
      rule: Joi.string(),
      default: 'shipping.responses',
      description: 'Topic of the shipping responses the consumer reads.',
    }),
    groupId: variable({
      env: 'KAFKA_GROUP_ID',
      rule: Joi.string(),
      default: 'order-service',
      description: 'Consumer group of the consumer process.',
    }),
    clientId: variable({
      env: 'KAFKA_CLIENT_ID',
      rule: Joi.string(),
      default: 'order-service',
      description: 'Client id the brokers see (not prefixed).',
    }),
    idempotent: variable({
      env: 'KAFKA_IDEMPOTENT',
      rule: Joi.boolean(),
      default: true,
      description: 'Idempotent producer; false for clusters that forbid it.',
    }),
    sessionTimeoutMs: variable({
      env: 'KAFKA_SESSION_TIMEOUT_MS',
      // Apache Kafka's default group.min/max.session.timeout.ms bound it.
      rule: Joi.number().integer().min(6000).max(1800000),
      default: 30000,
      description:
        "The consumer group's session, in ms: how long a crashed consumer keeps its partitions " +
        'before the others take them over.',
    }),
    holdAlertAfterMs: variable({
      env: 'KAFKA_HOLD_ALERT_AFTER_MS',
      rule: Joi.number().integer().min(1),
      default: 300000,
      description:
        'How long, in ms, the consumer may retry one message (Postgres unavailable, or a failure ' +
        'of no known kind) before its readiness turns red; shipping_consumer_held_seconds shows ' +
        'the hold per partition.',
    }),
    devPort: variable({
      env: 'KAFKA_DEV_PORT',
      rule: Joi.number().port(),
      default: 9092,
      description: 'Port of the in-repo development broker (`npm run dev:kafka`, `npm run dev`).',
    }),
  },
};

type KafkaVariables = Settings<typeof kafka.variables>;

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

/** What no single variable's rule can see. */
export function kafkaProblems(k: KafkaVariables): string[] {
  const problems: string[] = [];
  if (Boolean(k.clientCert) !== Boolean(k.clientCertKey)) {
    problems.push('KAFKA_CLIENT_CERT and KAFKA_CLIENT_CERT_KEY must be set together');
  }
  if (k.saslMechanism && (!k.saslUsername || !k.saslPassword)) {
    problems.push(
      'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM',
    );
  }
  return problems;
}

/**
 * The settings lib/kafka uses, from the variables as set (after kafkaProblems found none). A
 * variable not named here passes through under its own name.
 */
export function kafkaSettings(k: KafkaVariables) {
  const { bootstrapServers, url, saslMechanism, saslUsername, saslPassword, topic, ...rest } = k;
  const parsed = parseBrokers(url ?? bootstrapServers ?? '');
  return {
    ...rest,
    brokers: parsed.brokers,
    ssl: parsed.ssl || Boolean(k.trustedCert),
    sasl: saslMechanism
      ? { mechanism: saslMechanism, username: saslUsername!, password: saslPassword! }
      : undefined,
    requestsTopic: k.prefix + (topic ?? k.requestsTopic),
    responsesTopic: k.prefix + (topic ?? k.responsesTopic),
    groupId: k.prefix + k.groupId,
  };
}
