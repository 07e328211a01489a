import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Consumer } from 'kafkajs';
import type { Peers } from '../../scripts/peers/index.js';
import { request, storesEnv } from '../support/api.js';
import { startInstantPeers } from '../support/peers.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { orderBody, STICKER } from '../support/factories.js';
import {
  sharedTestBroker,
  testKafka,
  uniqueKafkaNames,
  uniqueName,
  type TestBroker,
} from '../../scripts/testkit/kafka.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { freePort } from '../support/system.js';
import {
  startHeaderRecordingProxy,
  startTestCollector,
  type CollectedSpan,
  type HeaderRecordingProxy,
  type TestCollector,
} from '../support/tracing.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/;

/**
 * The web, worker and consumer as the platform runs them (three processes, the tracing preload,
 * OTLP over HTTP to a test collector), one order driven to `shipped`: every process's spans share
 * the order's one trace id, and the peers see its context on the wire.
 */
describe('tracing: one trace per order across the processes', function () {
  this.timeout(120000);
  let db: TestDatabase;
  let redis: TestRedisPrefix;
  let broker: TestBroker;
  let peers: Peers;
  let collector: TestCollector;
  let payments: HeaderRecordingProxy;
  let notifications: HeaderRecordingProxy;
  let requestsReader: Consumer;
  const shippingHeaders: Record<string, string>[] = [];
  const children = new Set<ChildProcess>();
  const output: Record<string, { text: string }> = {};
  const secret = `whsec_${Buffer.from('tracing-test-secret-0123456789').toString('base64')}`;
  let apiUrl: string;
  let kafkaRequestsTopic: string;
  let kafkaResponsesTopic: string;

  before(async () => {
    db = await createTestDatabase('tracing');
    redis = createTestRedisPrefix();
    broker = await sharedTestBroker();
    collector = await startTestCollector();
    const kafkaNames = uniqueKafkaNames();
    kafkaRequestsTopic = kafkaNames.shippingPeer.requestsTopic;
    kafkaResponsesTopic = kafkaNames.shippingPeer.responsesTopic;
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    peers = await startInstantPeers({
      webhookSecret: secret,
      brokers: [broker.address],
      kafkaNames: kafkaNames.shippingPeer,
    });
    payments = await startHeaderRecordingProxy(peers.payments!.url);
    notifications = await startHeaderRecordingProxy(peers.notifications!.url);
    // A second reader of the requests topic, in its own group: what Shipping receives.
    requestsReader = testKafka(broker).consumer({ groupId: uniqueName('tracing-reader') });
    await requestsReader.connect();
    await requestsReader.subscribe({
      topic: kafkaNames.shippingPeer.requestsTopic,
      fromBeginning: true,
    });
    await requestsReader.run({
      eachMessage: async ({ message }) => {
        shippingHeaders.push(
          Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        );
      },
    });
    const env = {
      ...storesEnv(db, redis),
      KAFKA_BOOTSTRAP_SERVERS: broker.address,
      ...kafkaNames.env,
      PORT: String(port),
      CATALOG_SERVICE_API_URL: `${peers.catalog!.url}/api/items`,
      PAYMENTS_SERVICE_API_URL: `${payments.url}/api/payments`,
      NOTIFICATIONS_SERVICE_API_URL: `${notifications.url}/api/notifications`,
      PAYMENTS_WEBHOOK_SECRET: secret,
      PAYMENTS_CALLBACK_URL: `${apiUrl}/api/v1/orders/payment-callback`,
      JOB_BACKOFF_MS: '20',
      LOG_LEVEL: 'info',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    await Promise.all([
      spawnProcess('api/server.ts', 'web', env),
      spawnProcess('jobs/worker.ts', 'worker', env),
      spawnProcess('jobs/shipping-consumer.ts', 'consumer', env),
    ]);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await requestsReader?.disconnect();
    await payments?.close();
    await notifications?.close();
    await peers?.stop();
    await collector?.close();
    await redis?.flush();
    await db?.drop();
  });

  /** Starts an entry file as its own process with the tracing preload; resolves once it is ready. */
  async function spawnProcess(entry: string, name: string, env: Record<string, string>) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx/esm', '--import', './lib/platform/tracing.ts', entry],
      {
        env: { ...process.env, ...env, OTEL_SERVICE_NAME: `order-service-${name}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    child.on('exit', () => children.delete(child));
    const out = { text: '' };
    output[name] = out;
    child.stdout!.on('data', (c: Buffer) => (out.text += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out.text += c.toString()));
    const exited = once(child, 'exit').then(() => {
      throw new Error(`${entry} exited before it was ready:\n${out.text}`);
    });
    await Promise.race([
      waitFor(() => out.text.includes('"msg":"ready"'), {
        timeoutMs: 60000,
        intervalMs: 50,
        what: `${entry} ready`,
      }),
      exited,
    ]);
    return { child, out };
  }

  it('when an order goes to shipped, then web, worker and consumer spans share its one trace and the peers see its context', async () => {
    const created = await request(
      apiUrl,
      'POST',
      '/api/v1/orders',
      orderBody({ item_id: STICKER.id }),
    );
    expect(created.status).to.equal(201);
    const id = created.body.data.id as string;
    await waitFor(
      async () =>
        (await request(apiUrl, 'GET', `/api/v1/orders/${id}`)).body.data?.status === 'shipped',
      { timeoutMs: 60000, intervalMs: 50, what: `order ${id} shipped` },
    );
    const [{ traceparent }] = (
      await db.pool.query<{ traceparent: string }>('select traceparent from orders where id = $1', [
        id,
      ])
    ).rows as [{ traceparent: string }];
    const traceId = TRACEPARENT.exec(traceparent)?.[1];
    expect(traceId, 'the order row keeps its trace context').to.be.a('string');
    const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
    const named = (service: string, name: string) =>
      inTrace().filter((s) => s.service === `order-service-${service}` && s.name === name);
    // Each process exports on its own schedule: wait until every expected span has arrived.
    const expected: [string, string, number][] = [
      ['web', 'POST /api/v1/orders', 1],
      ['web', 'inbox.record payments', 1],
      ['worker', 'process payments', 1],
      ['worker', 'process notifications', 3],
      ['worker', 'process inbox', 2],
      ['worker', 'process shipping', 1],
      ['worker', `send ${kafkaRequestsTopic}`, 1],
      ['consumer', 'inbox.record shipping', 1],
    ];
    await waitFor(() => expected.every(([p, n, count]) => named(p, n).length >= count), {
      timeoutMs: 30000,
      what: 'every expected span exported',
    }).catch((err: Error) => {
      const got = inTrace().map((s) => `${s.service} ${s.name}`);
      throw new Error(`${err.message}; spans in the trace: ${[...new Set(got)].join(', ')}`);
    });
    expect(named('worker', 'process notifications')).to.have.length(3);
    expect(named('worker', 'process inbox')).to.have.length(2);
    expect(named('web', 'POST /api/v1/orders')).to.have.length(1);
    expect(named('worker', 'process payments')).to.have.length(1);
    expect(named('worker', 'process shipping')).to.have.length(1);
    // HTTP client spans: Payments once, Notifications three times (created, paid, shipped).
    const peerCalls = inTrace().filter((s) => s.kind === 3 && s.name === 'POST');
    expect(peerCalls.map((s) => s.service)).to.have.length.of.at.least(4);
    expect(named('worker', `send ${kafkaRequestsTopic}`), 'the Kafka produce').to.have.length(1);
    // The webhook and the shipping response arrive without the order's context (the peers do not
    // trace): each joins the order's trace through a span linked to the span that received it.
    const joinedWebhook = named('web', 'inbox.record payments');
    const joinedShipping = named('consumer', 'inbox.record shipping');
    expect(joinedWebhook).to.have.length(1);
    expect(joinedShipping).to.have.length(1);
    /** The names of the spans in the trace a span links to (the event's own trace). */
    const linkedTrace = (span: CollectedSpan) =>
      collector.spans
        .filter((s) => span.links.some((l) => l.traceId === s.traceId))
        .map((s) => s.name);
    expect(linkedTrace(joinedWebhook[0]!)).to.include('POST /api/v1/orders/payment-callback');
    expect(linkedTrace(joinedShipping[0]!)).to.include(`process ${kafkaResponsesTopic}`);
    expect(new Set(inTrace().map((s) => s.service))).to.deep.equal(
      new Set(['order-service-web', 'order-service-worker', 'order-service-consumer']),
    );

    const traceOf = (tp: unknown) => TRACEPARENT.exec(String(tp))?.[1];
    expect(payments.seen.map((r) => traceOf(r.headers.traceparent))).to.deep.equal([traceId]);
    expect(notifications.seen.map((r) => traceOf(r.headers.traceparent))).to.deep.equal([
      traceId,
      traceId,
      traceId,
    ]);
    await waitFor(() => shippingHeaders.length === 1, { what: 'the shipping request read back' });
    expect(traceOf(shippingHeaders[0]!.traceparent)).to.equal(traceId);

    // Log lines written inside the order's spans carry its trace id.
    const jobLines = output
      .worker!.text.split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { order_id?: string; trace_id?: string })
      .filter((l) => l.order_id === id);
    expect(jobLines).to.not.be.empty;
    expect(jobLines.map((l) => l.trace_id)).to.satisfy((ids: unknown[]) =>
      ids.every((t) => t === traceId),
    );
  });
});
