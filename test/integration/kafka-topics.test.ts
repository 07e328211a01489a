import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import kafkajs, { Kafka, type Admin } from 'kafkajs';
import {
  startShippingConsumer,
  type RunningShippingConsumer,
} from '../../jobs/start-shipping-consumer.js';
import type { Config } from '../../lib/platform/config.js';
import { createKafka, kafkaClientOptions } from '../../lib/kafka/client.js';
import { ensureTopics } from '../../lib/kafka/topics.js';
import { createLogger, type Logger } from '../../lib/platform/logger.js';
import type { ShippingRequestPayload } from '../../db/outbox/events.js';
import {
  createShippingProducer,
  type ShippingProducer,
} from '../../lib/kafka/shipping-producer.js';
import { testConfig } from '../support/api.js';
import { readFromStart } from '../support/kafka.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import {
  FAST_CONSUMER,
  sharedTestBroker,
  startRealCluster,
  testBrokerKind,
  testKafka,
  uniqueKafkaNames,
  uniqueName,
  type KafkaCluster,
  untilServed,
} from '../../scripts/testkit/kafka.js';
import { insertOrder } from '../support/orders.js';
import { waitFor } from '../../scripts/testkit/wait.js';

// kafkajs's ACL enums are not among the names Node finds in its CommonJS exports.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

interface LogRecord {
  level: number;
  msg: string;
  component?: string;
  topics?: string[];
  refusal?: string;
}

/** The service's JSON log lines, parsed, for asserting what it said. */
function recordingLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      records.push(JSON.parse(chunk.toString()) as LogRecord);
      done();
    },
  });
  return { logger: createLogger({ name: 'kafka-topics-test', level: 'info', out }), records };
}

const created = (records: LogRecord[]) =>
  records.filter((r) => r.msg === 'Kafka topics created').flatMap((r) => r.topics ?? []);
const refused = (records: LogRecord[]) =>
  records.filter((r) => r.msg.startsWith('the cluster refused to create these topics'));

const shippingRequest = (orderId: string): ShippingRequestPayload => ({
  event_type: 'order.paid',
  order_id: orderId,
  item_id: randomUUID(),
  quantity: 1,
  idempotency_key: randomUUID(),
});

const shipped = (orderId: string, shipmentId: string) =>
  JSON.stringify({
    event_type: 'order.shipped',
    order_id: orderId,
    item_id: randomUUID(),
    quantity: 1,
    shipment_id: shipmentId,
  });

describe('Kafka topics: created at start where allowed, created beforehand where not', function () {
  this.timeout(60000);
  let db: TestDatabase;
  const consumers: RunningShippingConsumer[] = [];
  const producers: ShippingProducer[] = [];
  const admins: Admin[] = [];

  before(async () => {
    db = await createTestDatabase('kafkatopics');
  });
  afterEach(async () => {
    while (consumers.length) await consumers.pop()!.stop();
    while (producers.length) await producers.pop()!.disconnect();
    while (admins.length) await admins.pop()!.disconnect();
  });
  after(async () => {
    await db?.drop();
  });

  async function connectedAdmin(kafka: Kafka): Promise<Admin> {
    const admin = kafka.admin();
    await admin.connect();
    admins.push(admin);
    return admin;
  }

  async function startConsumer(config: Config, logger: Logger) {
    const consumer = await startShippingConsumer(config, {
      logger,
      database: db,
      consumer: FAST_CONSUMER,
    });
    consumers.push(consumer);
    return consumer;
  }

  function producerFor(config: Config, logger: Logger, kafka = createKafka(config.kafka, logger)) {
    const producer = createShippingProducer(kafka, config.kafka, logger);
    producers.push(producer);
    return producer;
  }

  const inboxRows = async (orderId: string) =>
    (
      await db.pool.query<{ event_type: string; payload: { shipment_id: string } }>(
        'select event_type, payload from inbox where order_id = $1',
        [orderId],
      )
    ).rows;

  /** Shipping's order.shipped for the order, sent on `topic`; resolves once it is in the inbox. */
  async function answerShipped(
    kafka: Kafka,
    topic: string,
    orderId: string,
    shipmentId: string,
    { what }: { what: string },
  ): Promise<void> {
    const responder = kafka.producer();
    await responder.connect();
    await responder.send({
      topic,
      messages: [{ key: orderId, value: shipped(orderId, shipmentId) }],
    });
    await responder.disconnect();
    await waitFor(async () => (await inboxRows(orderId)).length === 1, { timeoutMs: 15000, what });
  }

  const messagesIn = async (admin: Admin, topic: string) => {
    await untilServed(admin, topic);
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  };

  describe('on a cluster that lets clients create topics (the shared broker)', () => {
    it('when the consumer starts and the first request is sent, then each creates its topic, and a second start with both present creates nothing and works', async () => {
      const broker = await sharedTestBroker();
      const { env } = uniqueKafkaNames();
      const config = testConfig({
        DATABASE_URL: db.url,
        KAFKA_BOOTSTRAP_SERVERS: broker.address,
        SHUTDOWN_TIMEOUT_MS: '5000',
        ...env,
      });
      const { requestsTopic, responsesTopic } = config.kafka;
      const admin = await connectedAdmin(testKafka(broker));
      const first = recordingLogger();

      const before = await admin.listTopics();
      expect(before).not.to.include(responsesTopic);
      expect(before).not.to.include(requestsTopic);
      const consumer = await startConsumer(config, first.logger);
      const afterConsumer = await admin.listTopics();
      expect(afterConsumer).to.include(responsesTopic);
      expect(afterConsumer).not.to.include(requestsTopic);
      expect(created(first.records)).to.deep.equal([responsesTopic]);

      const order = await insertOrder(db.db, { status: 'paid' });
      await producerFor(config, first.logger).send(shippingRequest(order.id));
      expect(await admin.listTopics()).to.include(requestsTopic);
      expect(created(first.records)).to.deep.equal([responsesTopic, requestsTopic]);
      expect(await messagesIn(admin, requestsTopic)).to.equal(1);

      await consumer.stop();
      consumers.pop();
      await producers.pop()!.disconnect();

      // Second start: the topics are there, so nothing is created and nothing is refused.
      const second = recordingLogger();
      await startConsumer(config, second.logger);
      await producerFor(config, second.logger).send(shippingRequest(order.id));
      expect(await messagesIn(admin, requestsTopic)).to.equal(2);
      await answerShipped(testKafka(broker), responsesTopic, order.id, 'shp-second-start', {
        what: 'the response taken in by the restarted consumer',
      });
      expect(created(second.records)).to.deep.equal([]);
      expect(refused(second.records)).to.deep.equal([]);
      const serviceErrors = second.records.filter(
        (r) => r.level >= 50 && r.component !== 'kafkajs',
      );
      expect(serviceErrors).to.deep.equal([]);
    });

    it('when twenty clients create their topics at the same moment, then each returns only once every partition of its topics has a leader', async () => {
      // A broker answers UNKNOWN_TOPIC_OR_PARTITION for a topic created a moment ago until the
      // controller's news reaches it; kafkajs's own waitForLeaders gave up on that (one call in
      // twelve on one busy broker, most of them on three).
      const broker = await sharedTestBroker();
      const kafka = testKafka(broker);
      const names = Array.from({ length: 20 }, () => [
        uniqueName('created-at-once'),
        uniqueName('created-at-once'),
      ]);
      const logger = recordingLogger().logger;

      const results = await Promise.allSettled(names.map((t) => ensureTopics(kafka, t, logger)));

      expect(results.filter((r) => r.status === 'rejected')).to.deep.equal([]);
      const admin = await connectedAdmin(kafka);
      const { topics } = await admin.fetchTopicMetadata({ topics: names.flat() });
      expect(topics).to.have.length(40);
      for (const t of topics) {
        expect(t.partitions.length, t.name).to.be.greaterThan(0);
        expect(
          t.partitions.every((p) => p.leader >= 0),
          t.name,
        ).to.equal(true);
      }
    });
  });

  describe('on a multi-tenant cluster: SASL users under ACLs, no topic creation (as on Heroku; Apache Kafka only)', () => {
    const password = randomUUID();
    let cluster: KafkaCluster | undefined;
    let superuser: Kafka;

    before(async function () {
      if ((await testBrokerKind()) === 'embedded') {
        // ACLs, SASL and a refused creation need Apache Kafka; the in-repo broker has none. CI
        // runs 'real'.
        this.skip();
      }
      this.timeout(90000);
      cluster = await startRealCluster({
        sasl: { users: { app: password } },
        properties: { 'auto.create.topics.enable': false },
      });
      // The plaintext listener's clients are super users: the operator's side of the test.
      superuser = testKafka({ address: cluster.brokers[0]! });
    });
    after(async () => {
      await cluster?.stop();
    });

    /** What a multi-tenant plan grants an app: its own prefix, no CREATE. */
    async function grantTenant(prefix: string): Promise<void> {
      const allow = (resourceType: number, operation: number) => ({
        resourceType,
        resourceName: prefix,
        resourcePatternType: ResourcePatternTypes.PREFIXED,
        principal: 'User:app',
        host: '*',
        operation,
        permissionType: AclPermissionTypes.ALLOW,
      });
      const admin = await connectedAdmin(superuser);
      await admin.createAcls({
        acl: [
          allow(AclResourceTypes.TOPIC, AclOperationTypes.READ),
          allow(AclResourceTypes.TOPIC, AclOperationTypes.WRITE),
          allow(AclResourceTypes.TOPIC, AclOperationTypes.DESCRIBE),
          allow(AclResourceTypes.GROUP, AclOperationTypes.READ),
          allow(AclResourceTypes.GROUP, AclOperationTypes.DESCRIBE),
        ],
      });
    }

    /** The service's configuration as the platform would set it for the tenant. */
    const tenantConfig = (prefix: string) =>
      testConfig({
        DATABASE_URL: db.url,
        KAFKA_URL: cluster!.saslBrokers[0]!,
        KAFKA_PREFIX: prefix,
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'app',
        KAFKA_SASL_PASSWORD: password,
        SHUTDOWN_TIMEOUT_MS: '5000',
      });

    it('when the prefixed topics were created beforehand, then the consumer takes a response in and the producer sends a request', async () => {
      const prefix = `${uniqueName('tenant')}.`;
      await grantTenant(prefix);
      const config = tenantConfig(prefix);
      expect(config.kafka.requestsTopic).to.equal(`${prefix}shipping.requests`);
      expect(config.kafka.responsesTopic).to.equal(`${prefix}shipping.responses`);
      expect(config.kafka.groupId).to.equal(`${prefix}order-service`);
      const { requestsTopic, responsesTopic } = config.kafka;
      const operator = await connectedAdmin(superuser);
      await operator.createTopics({
        topics: [{ topic: requestsTopic }, { topic: responsesTopic }],
        waitForLeaders: true,
      });
      const { logger, records } = recordingLogger();

      await startConsumer(config, logger);
      const order = await insertOrder(db.db, { status: 'paid' });
      await answerShipped(superuser, responsesTopic, order.id, 'shp-tenant', {
        what: 'the response in the inbox',
      });
      expect((await inboxRows(order.id))[0]!.payload.shipment_id).to.equal('shp-tenant');

      const request = shippingRequest(order.id);
      await producerFor(config, logger).send(request);
      const received = await readFromStart(superuser, requestsTopic, {
        group: 'shipping-peer',
        what: 'the request',
      });
      expect(received).to.have.length(1);
      expect(received[0]!.key?.toString()).to.equal(order.id);
      expect(JSON.parse(received[0]!.value!.toString())).to.deep.equal(request);
      // The topics were there: the service had nothing to create and asked for nothing.
      expect(created(records)).to.deep.equal([]);
      expect(refused(records)).to.deep.equal([]);
      // The group the service used is the tenant's prefixed one.
      const groups = (await operator.listGroups()).groups.map((g) => g.groupId);
      expect(groups).to.include(`${prefix}order-service`);
    });

    it('when the topics were not created beforehand, then the refused creation is logged and the consumer fails to start naming the missing topic', async () => {
      const prefix = `${uniqueName('tenant')}.`;
      await grantTenant(prefix);
      const config = tenantConfig(prefix);
      const { responsesTopic } = config.kafka;
      const { logger, records } = recordingLogger();

      const failure = await startConsumer(config, logger).then(
        () => expect.fail('the consumer started without its topic'),
        (err: unknown) => err as Error,
      );

      expect(failure.message).to.include(`"${responsesTopic}"`).and.include('does not exist');
      expect(refused(records)).to.have.length(1);
      expect(refused(records)[0]).to.deep.include({
        topics: [responsesTopic],
        refusal: 'TOPIC_AUTHORIZATION_FAILED',
      });
      // Nothing was created behind the refusal (by ensureTopics or by auto-creation).
      const operator = await connectedAdmin(superuser);
      expect(await operator.listTopics()).not.to.include(responsesTopic);
    });

    it('when the requests topic was not created beforehand, then a send fails naming it', async () => {
      const prefix = `${uniqueName('tenant')}.`;
      await grantTenant(prefix);
      const config = tenantConfig(prefix);
      const { logger, records } = recordingLogger();
      // The service's client options, with fewer retries than its default ~10 s of them.
      const kafka = new Kafka({
        ...kafkaClientOptions(config.kafka, logger),
        retry: { retries: 1, initialRetryTime: 100 },
      });
      const order = await insertOrder(db.db, { status: 'paid' });

      const failure = await producerFor(config, logger, kafka)
        .send(shippingRequest(order.id))
        .then(
          () => expect.fail('the request was sent without its topic'),
          (err: unknown) => err as Error,
        );

      expect(failure.message)
        .to.include(`"${config.kafka.requestsTopic}"`)
        .and.include('does not exist');
      expect(refused(records)[0]).to.deep.include({ refusal: 'TOPIC_AUTHORIZATION_FAILED' });
    });
  });
});
