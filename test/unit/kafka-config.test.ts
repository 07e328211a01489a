import { expect } from 'chai';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { Writable } from 'node:stream';
import { logLevel, Partitioners } from 'kafkajs';
import { loadConfig } from '../../lib/platform/config.js';
import {
  bunyanLogCreator,
  consumerOptions,
  createKafka,
  kafkaClientOptions,
  kafkajsLogLevel,
  producerOptions,
} from '../../lib/kafka/client.js';
import { kafkaErrorType, topicUnavailableError } from '../../lib/kafka/topics.js';
import { createLogger, silentLogger, type Logger } from '../../lib/platform/logger.js';

const TRUSTED_CERT = '-----BEGIN CERTIFICATE-----\nTRUSTED-CA\n-----END CERTIFICATE-----\n';
const CLIENT_CERT = '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n';
const CLIENT_KEY = '-----BEGIN PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n';

const kafkaConfig = (env: Record<string, string>) => loadConfig(env).kafka;

function capturingLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level, out }), lines };
}

describe('lib/kafka: configuration to kafkajs options', () => {
  it('when plain bootstrap servers are configured, then kafkajs gets them as they are, without TLS or SASL', () => {
    const cfg = kafkaConfig({ KAFKA_BOOTSTRAP_SERVERS: 'kafka-1:9092, kafka-2:9092' });

    const options = kafkaClientOptions(cfg, silentLogger());

    expect(options.brokers).to.deep.equal(['kafka-1:9092', 'kafka-2:9092']);
    expect(options.clientId).to.equal('order-service');
    expect(options.ssl).to.equal(undefined);
    expect(options.sasl).to.equal(undefined);
  });

  it("when Heroku's KAFKA_URL comes with certificates, then TLS trusts that CA and presents the client certificate", () => {
    const cfg = kafkaConfig({
      KAFKA_URL:
        'kafka+ssl://ec2-1-2-3-4.compute-1.amazonaws.com:9096,kafka+ssl://ec2-5-6-7-8.compute-1.amazonaws.com:9096',
      KAFKA_TRUSTED_CERT: TRUSTED_CERT,
      KAFKA_CLIENT_CERT: CLIENT_CERT,
      KAFKA_CLIENT_CERT_KEY: CLIENT_KEY,
    });

    const options = kafkaClientOptions(cfg, silentLogger());

    expect(options.brokers).to.deep.equal([
      'ec2-1-2-3-4.compute-1.amazonaws.com:9096',
      'ec2-5-6-7-8.compute-1.amazonaws.com:9096',
    ]);
    expect(options.ssl).to.include({ ca: TRUSTED_CERT, cert: CLIENT_CERT, key: CLIENT_KEY });
    // The chain is still verified against the CA; only the hostname match is waived.
    expect(options.ssl).not.to.have.property('rejectUnauthorized');
    const { checkServerIdentity } = options.ssl as ConnectionOptions;
    expect(checkServerIdentity!('ec2-1-2-3-4.compute-1.amazonaws.com', {} as PeerCertificate)).to.be
      .undefined;
  });

  it('when the URL asks for TLS without certificates, then the system CAs and hostname checks apply', () => {
    const cfg = kafkaConfig({ KAFKA_URL: 'kafka+ssl://broker.example.com:9096' });

    expect(kafkaClientOptions(cfg, silentLogger()).ssl).to.equal(true);
  });

  it('when SASL is configured, then kafkajs gets the mechanism and credentials', () => {
    const cfg = kafkaConfig({
      KAFKA_BOOTSTRAP_SERVERS: 'kafka+ssl://pkc-1.eu-west-1.aws.confluent.cloud:9092',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'svc-orders',
      KAFKA_SASL_PASSWORD: 's3cr3t',
    });

    const options = kafkaClientOptions(cfg, silentLogger());

    expect(options.brokers).to.deep.equal(['pkc-1.eu-west-1.aws.confluent.cloud:9092']);
    expect(options.ssl).to.equal(true);
    expect(options.sasl).to.deep.equal({
      mechanism: 'scram-sha-512',
      username: 'svc-orders',
      password: 's3cr3t',
    });
  });

  it('when KAFKA_PREFIX is set, then the group id carries it once and the client options do not', () => {
    const cfg = kafkaConfig({ KAFKA_URL: 'kafka+ssl://h:9096', KAFKA_PREFIX: 'tenant-42.' });

    expect(consumerOptions(cfg).groupId).to.equal('tenant-42.order-service');
    expect(cfg.requestsTopic).to.equal('tenant-42.shipping.requests');
    expect(cfg.responsesTopic).to.equal('tenant-42.shipping.responses');
    expect(kafkaClientOptions(cfg, silentLogger()).clientId).to.equal('order-service');
  });

  it("when KAFKA_SESSION_TIMEOUT_MS is unset, then the consumer keeps kafkajs's 30 s session and 3 s heartbeat", () => {
    expect(consumerOptions(kafkaConfig({}))).to.deep.equal({
      groupId: 'order-service',
      sessionTimeout: 30000,
      heartbeatInterval: 3000,
    });
  });

  it('when KAFKA_SESSION_TIMEOUT_MS is short, then heartbeats go every third of it', () => {
    expect(consumerOptions(kafkaConfig({ KAFKA_SESSION_TIMEOUT_MS: '6000' }))).to.include({
      sessionTimeout: 6000,
      heartbeatInterval: 2000,
    });
  });

  it("when KAFKA_SESSION_TIMEOUT_MS is outside Apache Kafka's default bounds, then it is refused", () => {
    expect(() => kafkaConfig({ KAFKA_SESSION_TIMEOUT_MS: '5999' })).to.throw(
      /KAFKA_SESSION_TIMEOUT_MS/,
    );
    expect(() => kafkaConfig({ KAFKA_SESSION_TIMEOUT_MS: '1800001' })).to.throw(
      /KAFKA_SESSION_TIMEOUT_MS/,
    );
  });

  it('when nothing says otherwise, then the producer is idempotent with one request in flight', () => {
    expect(producerOptions(kafkaConfig({}))).to.deep.equal({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  });

  it('when KAFKA_IDEMPOTENT is false, then the producer is not idempotent', () => {
    expect(producerOptions(kafkaConfig({ KAFKA_IDEMPOTENT: 'false' }))).to.include({
      idempotent: false,
    });
  });

  it('when no broker is configured, then building the client fails naming the variables', () => {
    expect(() => kafkaClientOptions(kafkaConfig({}), silentLogger())).to.throw(
      /KAFKA_URL or KAFKA_BOOTSTRAP_SERVERS/,
    );
  });
});

describe('lib/kafka: errors that name the topic', () => {
  // As kafkajs builds them: the broker's answer as a KafkaJSProtocolError with its `type`, wrapped
  // in KafkaJSNumberOfRetriesExceeded's `cause` once the retries ran out.
  const brokerAnswer = (type: string, message: string) =>
    Object.assign(new Error(message), { type });
  const afterRetries = (cause: Error) =>
    new Error(cause.message, { cause }) as Error & { type?: string };

  it("when kafkajs's error wraps the broker's answer, then its type is found under the wrapper", () => {
    const answer = brokerAnswer('UNKNOWN_TOPIC_OR_PARTITION', 'no such topic');

    expect(kafkaErrorType(answer)).to.equal('UNKNOWN_TOPIC_OR_PARTITION');
    expect(kafkaErrorType(afterRetries(answer))).to.equal('UNKNOWN_TOPIC_OR_PARTITION');
    expect(kafkaErrorType(new Error('connect ECONNREFUSED'))).to.equal(undefined);
    expect(kafkaErrorType(undefined)).to.equal(undefined);
  });

  it('when a topic is missing or forbidden, then the error names it and keeps the cause', () => {
    const missing = afterRetries(
      brokerAnswer('UNKNOWN_TOPIC_OR_PARTITION', 'This server does not host this topic-partition'),
    );
    const forbidden = brokerAnswer('TOPIC_AUTHORIZATION_FAILED', 'Not authorized');

    const a = topicUnavailableError(missing, 't.shipping.responses', 'shipping responses');
    const b = topicUnavailableError(forbidden, 't.shipping.requests', 'shipping requests');

    expect(a?.message).to.match(/shipping responses topic "t\.shipping\.responses" does not exist/);
    expect(a?.cause).to.equal(missing);
    expect(b?.message).to.match(/refused .* shipping requests topic "t\.shipping\.requests"/);
    expect(topicUnavailableError(new Error('ECONNREFUSED'), 't', 'x')).to.equal(undefined);
  });
});

describe('lib/kafka: kafkajs logs in bunyan', () => {
  it('when kafkajs logs at each level, then bunyan gets the same level, message and fields', () => {
    const { logger, lines } = capturingLogger();
    const log = bunyanLogCreator(logger)(logLevel.DEBUG);
    const entry = (level: logLevel, message: string) => ({
      namespace: 'Connection',
      level,
      label: '',
      log: { timestamp: '2026-01-01T00:00:00.000Z', message, broker: 'h:9092' },
    });

    log(entry(logLevel.ERROR, 'boom'));
    log(entry(logLevel.WARN, 'careful'));
    log(entry(logLevel.INFO, 'hello'));
    log(entry(logLevel.DEBUG, 'detail'));

    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.level, r.msg])).to.deep.equal([
      [50, 'boom'],
      [40, 'careful'],
      [30, 'hello'],
      [20, 'detail'],
    ]);
    expect(records[0]).to.include({
      component: 'kafkajs',
      namespace: 'Connection',
      broker: 'h:9092',
    });
    expect(records[0]).not.to.have.property('timestamp');
  });

  it('when kafkajs logs camelCase fields, then they are written in snake_case', () => {
    const { logger, lines } = capturingLogger();
    bunyanLogCreator(logger)(logLevel.DEBUG)({
      namespace: 'ConsumerGroup',
      level: logLevel.ERROR,
      label: '',
      log: {
        timestamp: '2026-01-01T00:00:00.000Z',
        message: 'Crash',
        groupId: 'g',
        retryCount: 2,
        stack: 's',
      },
    });

    const [record] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(record).to.include({ group_id: 'g', retry_count: 2, stack: 's' });
    expect(record).not.to.have.any.keys('groupId', 'retryCount');
  });

  it('when the service logs at a level, then kafkajs is set to the matching one', () => {
    expect(kafkajsLogLevel(20)).to.equal(logLevel.DEBUG);
    expect(kafkajsLogLevel(30)).to.equal(logLevel.INFO);
    expect(kafkajsLogLevel(40)).to.equal(logLevel.WARN);
    expect(kafkajsLogLevel(50)).to.equal(logLevel.ERROR);
    expect(kafkajsLogLevel(70)).to.equal(logLevel.NOTHING);
    const { logger } = capturingLogger('info');
    const cfg = kafkaConfig({ KAFKA_BOOTSTRAP_SERVERS: 'h:9092' });
    expect(kafkaClientOptions(cfg, logger).logLevel).to.equal(logLevel.INFO);
  });

  it('when the client is created, then the log line names brokers and mechanism but no secret', () => {
    const { logger, lines } = capturingLogger();
    const cfg = kafkaConfig({
      KAFKA_URL: 'kafka+ssl://h:9096',
      KAFKA_TRUSTED_CERT: TRUSTED_CERT,
      KAFKA_CLIENT_CERT: CLIENT_CERT,
      KAFKA_CLIENT_CERT_KEY: CLIENT_KEY,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'hunter2',
    });

    createKafka(cfg, logger);

    const output = lines.join('');
    expect(output).to.include('h:9096').and.include('plain');
    expect(output).not.to.include('hunter2');
    expect(output).not.to.include('SECRET-KEY-MATERIAL');
  });
});
