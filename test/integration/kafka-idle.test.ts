import { expect } from 'chai';
import { createRequire } from 'node:module';
import sinon from 'sinon';
import type { Admin, Producer } from 'kafkajs';
import { createKafka } from '../../lib/kafka/client.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { testConfig } from '../support/api.js';
import { sharedTestBroker, uniqueName } from '../../scripts/testkit/kafka.js';

// kafkajs's per-connection request queue: not part of its typed API, so loaded by path. Only the
// method this test counts is named here.
interface RequestQueueClass {
  prototype: { checkPendingRequests(): void };
}
const RequestQueue = createRequire(import.meta.url)(
  'kafkajs/src/network/requestQueue/index.js',
) as RequestQueueClass;

/**
 * kafkajs 2.2.4 re-arms a timer with a negative delay after every answer it gets, so each broker
 * connection runs a 1 ms timer loop for ever, idle or not (tulios/kafkajs#1556): about 40 ms of
 * CPU a second in each of the worker and the consumer before the patch in scripts/patches/.
 */
describe('an idle kafkajs connection (scripts/patches/kafkajs+2.2.4.patch)', function () {
  this.timeout(60000);
  let admin: Admin | undefined;
  let producer: Producer | undefined;

  afterEach(async () => {
    sinon.restore();
    await producer?.disconnect();
    await admin?.disconnect();
  });

  it('when a producer has sent and then waits, then its request queues stop checking for pending requests', async () => {
    const broker = await sharedTestBroker();
    const config = testConfig({ KAFKA_BOOTSTRAP_SERVERS: broker.address });
    const kafka = createKafka(config.kafka, silentLogger());
    const topic = uniqueName('idle');
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'v' }] });

    const checks = sinon.spy(RequestQueue.prototype, 'checkPendingRequests');
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Unpatched, each connection that has had an answer checks about once a millisecond (several
    // hundred calls here); patched, a check follows only a request or an answer, and none come.
    expect(checks.callCount, 'checks in 500 ms of no requests').to.be.at.most(5);
  });
});
