import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import {
  startShippingConsumer,
  type RunningShippingConsumer,
} from '../../jobs/start-shipping-consumer.js';
import { startWorker, type RunningWorker } from '../../jobs/start-worker.js';
import { insertOutboxRows } from '../../db/outbox/rows.js';
import { kafkaClientOptions } from '../../lib/kafka/client.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { shippingRequested } from '../../db/outbox/events.js';
import { testConfig } from '../support/api.js';
import { expectOneRequestFor, readFromStart } from '../support/kafka.js';
import {
  certificateFactory,
  type CertificateFactory,
  type Pem,
  type TestCa,
} from '../support/certificates.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import {
  FAST_CONSUMER,
  startRealCluster,
  testBrokerKind,
  uniqueName,
  type KafkaCluster,
} from '../../scripts/testkit/kafka.js';
import { insertOrder } from '../support/orders.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';

/** The only name the broker's certificate carries: not 127.0.0.1, where the broker listens. As
 * on Heroku, whose broker certificates do not name the hosts clients connect to. */
const BROKER_NAME = 'kafka-broker.invalid';

describe('Kafka over TLS with client certificates, configured as Heroku does (Apache Kafka only)', function () {
  this.timeout(60000);
  let certs: CertificateFactory | undefined;
  let ca: TestCa;
  let otherCa: TestCa;
  let brokerCert: Pem;
  let clientCert: Pem;
  let cluster: KafkaCluster | undefined;
  let db: TestDatabase | undefined;
  let redis: TestRedisPrefix | undefined;
  let worker: RunningWorker | undefined;
  let consumer: RunningShippingConsumer | undefined;

  before(async function () {
    if ((await testBrokerKind()) === 'embedded') {
      // The in-repo broker has no TLS listener; CI runs 'real'.
      this.skip();
    }
    this.timeout(90000);
    certs = await certificateFactory();
    ca = await certs.newCa('Order Service Test Kafka CA');
    otherCa = await certs.newCa('Some Other CA');
    brokerCert = await ca.issue({ cn: 'kafka-broker', dns: [BROKER_NAME], usage: 'serverAuth' });
    clientCert = await ca.issue({ cn: 'order-service', usage: 'clientAuth' });
    [cluster, db] = await Promise.all([
      startRealCluster({
        ssl: { caPem: ca.certPem, certPem: brokerCert.certPem, keyPem: brokerCert.keyPem },
      }),
      createTestDatabase('kafkatls'),
    ]);
    redis = createTestRedisPrefix();
  });
  after(async () => {
    await consumer?.stop();
    await worker?.stop();
    await cluster?.stop();
    await redis?.flush();
    await db?.drop();
    await certs?.cleanUp();
  });

  /** KAFKA_* exactly as Heroku Kafka sets them: a kafka+ssl:// URL list and PEM contents. */
  const herokuKafkaEnv = (): Record<string, string> => ({
    KAFKA_URL: cluster!.sslBrokers.map((address) => `kafka+ssl://${address}`).join(','),
    KAFKA_TRUSTED_CERT: ca.certPem,
    KAFKA_CLIENT_CERT: clientCert.certPem,
    KAFKA_CLIENT_CERT_KEY: clientCert.keyPem,
  });

  /**
   * The Shipping side's client: TLS with the client certificate and full verification. By
   * default it verifies the name the broker's certificate carries (TLS's servername); with
   * `nameCheck: 'address'`, Node's default, it verifies the address it connects to.
   */
  const shippingKafka = ({
    nameCheck = 'certificate',
  }: { nameCheck?: 'certificate' | 'address' } = {}) =>
    new Kafka({
      clientId: uniqueName('shipping'),
      brokers: cluster!.sslBrokers,
      ssl: {
        ca: ca.certPem,
        cert: clientCert.certPem,
        key: clientCert.keyPem,
        ...(nameCheck === 'certificate' ? { servername: BROKER_NAME } : {}),
      },
      logLevel: logLevel.NOTHING,
      // A group's first coordinator look-up on a new cluster may need a few.
      retry: { retries: 5, initialRetryTime: 50, maxRetryTime: 1000 },
    });

  /** Connects an admin client built from the service's options for `env`; the error, if any. */
  async function connectionError(env: Record<string, string>): Promise<Error | undefined> {
    const options = kafkaClientOptions(testConfig(env).kafka, silentLogger());
    const admin = new Kafka({ ...options, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return undefined;
    } catch (err) {
      return err as Error;
    } finally {
      await admin.disconnect();
    }
  }

  it("when the broker's certificate does not name 127.0.0.1, then a client checking the hostname is refused while one checking the certificate's own name connects", async () => {
    const certificate = new X509Certificate(brokerCert.certPem);
    expect(certificate.checkIP('127.0.0.1')).to.equal(undefined);
    expect(certificate.checkHost(BROKER_NAME)).to.equal(BROKER_NAME);

    const admin = shippingKafka({ nameCheck: 'address' }).admin();
    const refused = await admin.connect().then(
      () => undefined,
      (err: Error) => err,
    );
    await admin.disconnect();
    expect(refused?.message).to.match(/does not match certificate's altnames/);

    const verified = shippingKafka().admin();
    await verified.connect();
    await verified.listTopics();
    await verified.disconnect();
  });

  it('when the worker sends a shipping request, then it goes over TLS and Shipping reads it', async () => {
    const order = await insertOrder(db!.db, { status: 'paid' });
    const config = testConfig({
      ...herokuKafkaEnv(),
      DATABASE_URL: db!.url,
      REDIS_URL: redis!.url,
      BULLMQ_PREFIX: redis!.prefix,
      // Required by the worker; no payment or notification job runs in this test.
      PAYMENTS_SERVICE_API_URL: 'http://127.0.0.1:9/payments',
      NOTIFICATIONS_SERVICE_API_URL: 'http://127.0.0.1:9/notifications',
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    expect(config.kafka.brokers).to.deep.equal(cluster!.sslBrokers);
    worker = await startWorker(config, { logger: silentLogger(), database: db! });

    const [outboxId] = await insertOutboxRows(db!.db, [shippingRequested(order)]);
    await waitFor(
      async () =>
        (await db!.pool.query('select completed_at from outbox where id = $1', [outboxId])).rows[0]
          .completed_at !== null,
      { timeoutMs: 20000, what: 'the shipping request sent' },
    );

    const received = await readFromStart(shippingKafka(), config.kafka.requestsTopic, {
      group: 'shipping',
      what: 'the request read',
    });
    expectOneRequestFor(received, order);
    await worker.stop();
    worker = undefined;
  });

  it('when Shipping answers over TLS, then the shipping consumer takes the response in', async () => {
    const order = await insertOrder(db!.db, { status: 'paid' });
    const config = testConfig({
      ...herokuKafkaEnv(),
      DATABASE_URL: db!.url,
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    consumer = await startShippingConsumer(config, {
      logger: silentLogger(),
      database: db!,
      consumer: FAST_CONSUMER,
    });

    const responder = shippingKafka().producer();
    await responder.connect();
    try {
      await responder.send({
        topic: config.kafka.responsesTopic,
        messages: [
          {
            key: order.id,
            value: JSON.stringify({
              event_type: 'order.shipped',
              order_id: order.id,
              item_id: order.itemId,
              quantity: order.quantity,
              shipment_id: 'shp-over-tls',
            }),
          },
        ],
      });
    } finally {
      await responder.disconnect();
    }
    const inboxRow = async () =>
      (
        await db!.pool.query<{ event_type: string; payload: { shipment_id: string } }>(
          'select event_type, payload from inbox where order_id = $1',
          [order.id],
        )
      ).rows[0];
    await waitFor(async () => (await inboxRow()) !== undefined, {
      timeoutMs: 15000,
      what: 'the response in the inbox',
    });
    expect(await inboxRow()).to.deep.include({ event_type: 'order.shipped' });
    expect((await inboxRow())!.payload.shipment_id).to.equal('shp-over-tls');
    await consumer.stop();
    consumer = undefined;
  });

  it('when the service has no client certificate, one from another CA, or trusts another CA, then the connection is refused', async () => {
    const foreign = await otherCa.issue({ cn: 'order-service', usage: 'clientAuth' });
    const heroku = herokuKafkaEnv();
    const { KAFKA_CLIENT_CERT: _cert, KAFKA_CLIENT_CERT_KEY: _key, ...withoutClientCert } = heroku;

    // The same code with Heroku's full set connects: what follows is refused for its TLS alone.
    expect(await connectionError(heroku)).to.equal(undefined);

    const noCertificate = await connectionError(withoutClientCert);
    const foreignCertificate = await connectionError({
      ...heroku,
      KAFKA_CLIENT_CERT: foreign.certPem,
      KAFKA_CLIENT_CERT_KEY: foreign.keyPem,
    });
    const otherTrust = await connectionError({ ...heroku, KAFKA_TRUSTED_CERT: otherCa.certPem });

    // The broker refuses a client without a certificate its CA signed (TLS alerts 42 and 46).
    expect(noCertificate?.message).to.match(/alert (bad certificate|certificate required)/);
    expect(foreignCertificate?.message).to.match(/alert (certificate unknown|bad certificate)/);
    // The service refuses a broker its KAFKA_TRUSTED_CERT did not sign: skipping the name check
    // did not skip the chain check.
    expect(otherTrust?.message).to.match(/unable to verify the first certificate/);
  });
});
