/**
 * The one place that turns `Config['kafka']` into a kafkajs client: brokers, TLS in Heroku's form,
 * SASL, and kafkajs's logs routed into bunyan. The option builders are pure so each configuration
 * form can be checked without a broker.
 */
import type { ConnectionOptions } from 'node:tls';
import {
  Kafka,
  logLevel,
  Partitioners,
  type ConsumerConfig,
  type KafkaConfig,
  type logCreator,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';

export type KafkaSettings = Config['kafka'];
type SaslSettings = NonNullable<KafkaSettings['sasl']>;

/**
 * TLS options, or undefined for plaintext. With Heroku's KAFKA_TRUSTED_CERT the brokers are
 * verified against that CA only. Their certificates do not name the brokers' hostnames (a known
 * Heroku limitation: tulios/kafkajs#70, zendesk/ruby-kafka#734, heroku/heroku-kafka-demo-go#6), so
 * Node's hostname check would refuse every connection. The certificate chain is still verified
 * against the cluster's private CA (rejectUnauthorized stays true); only the name check is
 * skipped, and only when that private CA is the sole trust anchor.
 */
export function tlsOptions(cfg: KafkaSettings): ConnectionOptions | true | undefined {
  // A client certificate only makes sense over TLS, whatever the URL scheme said.
  if (!cfg.ssl && !cfg.clientCert) return undefined;
  if (!cfg.trustedCert && !cfg.clientCert) return true;
  const options: ConnectionOptions = {};
  if (cfg.trustedCert) {
    options.ca = cfg.trustedCert;
    options.checkServerIdentity = () => undefined;
  }
  if (cfg.clientCert) {
    options.cert = cfg.clientCert;
    options.key = cfg.clientCertKey;
  }
  return options;
}

/** kafkajs's level for a bunyan logger's, so kafkajs does not build entries bunyan would drop. */
export function kafkajsLogLevel(bunyanLevel: number): logLevel {
  if (bunyanLevel <= 20) return logLevel.DEBUG;
  if (bunyanLevel <= 30) return logLevel.INFO;
  if (bunyanLevel <= 40) return logLevel.WARN;
  if (bunyanLevel <= 60) return logLevel.ERROR;
  return logLevel.NOTHING;
}

/**
 * Routes kafkajs's log entries into bunyan at the matching level, kafkajs's fields kept under
 * snake_case names (`groupId` as `group_id`), the one style of every log line of the service.
 */
export function bunyanLogCreator(logger: Logger): logCreator {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _timestamp, ...fields } = entry;
      const context: Record<string, unknown> = { namespace };
      for (const [key, value] of Object.entries(fields)) context[snakeCase(key)] = value;
      if (level === logLevel.ERROR) log.error(context, message);
      else if (level === logLevel.WARN) log.warn(context, message);
      else if (level === logLevel.INFO) log.info(context, message);
      else log.debug(context, message);
    };
}

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** One case per mechanism: kafkajs types each mechanism's options separately. */
function saslOptions({ mechanism, username, password }: SaslSettings): SASLOptions {
  switch (mechanism) {
    case 'plain':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'scram-sha-512':
      return { mechanism, username, password };
  }
}

export function kafkaClientOptions(cfg: KafkaSettings, logger: Logger): KafkaConfig {
  if (cfg.brokers.length === 0) {
    throw new Error('no Kafka brokers configured: set KAFKA_URL or KAFKA_BOOTSTRAP_SERVERS');
  }
  return {
    clientId: cfg.clientId,
    brokers: cfg.brokers,
    ssl: tlsOptions(cfg),
    sasl: cfg.sasl && saslOptions(cfg.sasl),
    logLevel: kafkajsLogLevel(logger.level()),
    logCreator: bunyanLogCreator(logger),
  };
}

export function createKafka(cfg: KafkaSettings, logger: Logger): Kafka {
  const options = kafkaClientOptions(cfg, logger);
  logger.info(
    {
      brokers: cfg.brokers,
      tls: Boolean(options.ssl),
      sasl: cfg.sasl?.mechanism ?? 'none',
      client_id: cfg.clientId,
    },
    'Kafka client configured',
  );
  return new Kafka(options);
}

/**
 * Idempotent by default, so a retried send is not written twice; kafkajs keeps per-partition
 * order for an idempotent producer only with one request in flight. KAFKA_IDEMPOTENT=false turns
 * it off (for brokers that refuse InitProducerId). The partitioner is named rather than left to
 * kafkajs's default: it is the Java client's murmur2, so an order id lands on the same partition
 * whichever client produces it, and kafkajs stops warning that its default changed in 2.0.
 */
export function producerOptions(cfg: KafkaSettings): ProducerConfig {
  const idempotence = cfg.idempotent
    ? { idempotent: true, maxInFlightRequests: 1 }
    : { idempotent: false };
  return { ...idempotence, createPartitioner: Partitioners.DefaultPartitioner };
}

/**
 * The consumer group; the group id in configuration already carries KAFKA_PREFIX. Heartbeats go
 * every third of the session timeout (Kafka's advice), never less often than kafkajs's 3 s default.
 */
export function consumerOptions(cfg: KafkaSettings): ConsumerConfig {
  return {
    groupId: cfg.groupId,
    sessionTimeout: cfg.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(cfg.sessionTimeoutMs / 3)),
  };
}
