import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Peers } from '../../scripts/peers/index.js';
import { request } from '../support/api.js';
import { spawnEntry } from '../support/processes.js';
import { startInstantPeers } from '../support/peers.js';
import {
  createTestDatabase,
  databaseUrl,
  type TestDatabase,
} from '../../scripts/testkit/database.js';
import { orderBody, STICKER } from '../support/factories.js';
import { sharedTestBroker, uniqueKafkaNames } from '../../scripts/testkit/kafka.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { startPrivateRedis, type PrivateRedis } from '../../scripts/testkit/redis.js';
import { assertNoSecretsIn, type Secrets } from '../support/secrets.js';
import { newWebhookSecret, paymentCallbackBody } from '../support/webhooks.js';
import { signedWebhookHeaders } from '../../lib/peers/webhook-signature.js';

const random = (label: string) => `${label}-${randomBytes(12).toString('base64url')}`;

/**
 * The service's real processes (web, worker, consumer), every secret configured and logging at
 * trace, through complete orders, wrong admin credentials and badly signed callbacks: everything
 * they wrote holds none of the secrets, in any form (test/support/secrets.ts).
 * KAFKA_SASL_PASSWORD is left out: SASL needs a broker set up for it.
 */
describe('secrets never reach the logs', function () {
  this.timeout(120000);
  const secrets: Secrets = {
    PAYMENTS_WEBHOOK_SECRET: newWebhookSecret(),
    ADMIN_PASSWORD: random('admin'),
    CAPASHINO_SERVICE_ACCESS_TOKEN: random('token'),
    DATABASE_URL_PASSWORD: random('pg'),
    REDIS_URL_PASSWORD: random('redis'),
  };
  let db: TestDatabase;
  let redis: PrivateRedis;
  let peers: Peers;
  const children: { name: string; child: ChildProcess; out: { text: string } }[] = [];

  before(async () => {
    db = await createTestDatabase('secrets');
    // Postgres here trusts local connections: the password is carried (and could leak) but unused.
    // Redis is a private one that does ask for its password.
    redis = await startPrivateRedis(['--requirepass', secrets.REDIS_URL_PASSWORD!]);
  });
  after(async () => {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    await peers?.stop();
    await redis?.stop();
    await db?.drop();
  });

  async function spawnProcess(
    name: string,
    entry: string,
    env: Record<string, string>,
    ready: RegExp,
  ) {
    const started = await spawnEntry(entry, env, { ready, what: `${name} ready` });
    children.push({ name, ...started });
    return started.out;
  }

  it('when the processes run orders, refused logins and refused callbacks at trace level, then no secret is in anything they wrote', async () => {
    const broker = await sharedTestBroker();
    const kafkaNames = uniqueKafkaNames();
    peers = await startInstantPeers({
      webhookSecret: secrets.PAYMENTS_WEBHOOK_SECRET!,
      brokers: [broker.address],
      kafkaNames: kafkaNames.shippingPeer,
    });
    const dbUrl = new URL(databaseUrl(db.name));
    dbUrl.password = secrets.DATABASE_URL_PASSWORD!;
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'trace',
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: `redis://:${secrets.REDIS_URL_PASSWORD}@127.0.0.1:${redis.port}`,
      KAFKA_BOOTSTRAP_SERVERS: broker.address,
      ...kafkaNames.env,
      CATALOG_SERVICE_API_URL: `${peers.catalog.url}/api/items`,
      PAYMENTS_SERVICE_API_URL: `${peers.payments.url}/api/payments`,
      NOTIFICATIONS_SERVICE_API_URL: `${peers.notifications.url}/api/notifications`,
      CAPASHINO_SERVICE_ACCESS_TOKEN: secrets.CAPASHINO_SERVICE_ACCESS_TOKEN!,
      PAYMENTS_WEBHOOK_SECRET: secrets.PAYMENTS_WEBHOOK_SECRET!,
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD: secrets.ADMIN_PASSWORD!,
      JOB_BACKOFF_MS: '20',
      JOB_BACKOFF_MAX_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '5000',
      PORT: '0',
    };
    const webOut = await spawnProcess('web', 'api/server.ts', env, /"msg":"web listening"/);
    const port = Number(/"port":(\d+),"msg":"web listening"/.exec(webOut.text)![1]);
    const base = `http://127.0.0.1:${port}`;
    env.PAYMENTS_CALLBACK_URL = `${base}/api/v1/orders/payment-callback`;
    await spawnProcess('worker', 'jobs/worker.ts', env, /"msg":"worker started"/);
    await spawnProcess(
      'consumer',
      'jobs/shipping-consumer.ts',
      env,
      /"msg":"shipping consumer running"/,
    );

    // Complete orders: one ships, one fails at Shipping (quantity 13) and is cancelled.
    const ids: string[] = [];
    for (const quantity of [1, 2, 13]) {
      const res = await request(
        base,
        'POST',
        '/api/v1/orders',
        orderBody({ item_id: STICKER.id, quantity }),
      );
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      ids.push(res.body.data.id as string);
    }
    await waitFor(
      async () => {
        const states = await Promise.all(
          ids.map(
            async (id) => (await request(base, 'GET', `/api/v1/orders/${id}`)).body.data.status,
          ),
        );
        return states.every((s) => s === 'shipped' || s === 'cancelled');
      },
      { timeoutMs: 60000, intervalMs: 100, what: 'every order final' },
    );
    expect(peers.catalog.lastApiKey).to.equal(secrets.CAPASHINO_SERVICE_ACCESS_TOKEN);

    // Admin: wrong passwords (one that starts with the real one), then the right one.
    const basic = (pw: string) => ({
      authorization: `Basic ${Buffer.from(`ops:${pw}`).toString('base64')}`,
    });
    for (const pw of [
      `${secrets.ADMIN_PASSWORD}x`,
      'wrong',
      secrets.ADMIN_PASSWORD!.slice(0, -1),
    ]) {
      expect(
        (await request(base, 'GET', '/admin/dead-letters', undefined, basic(pw))).status,
      ).to.equal(401);
    }
    expect(
      (
        await request(
          base,
          'GET',
          '/admin/queues/api/queues',
          undefined,
          basic(secrets.ADMIN_PASSWORD!),
        )
      ).status,
    ).to.equal(200);
    expect(
      (await request(base, 'GET', '/metrics', undefined, basic(secrets.ADMIN_PASSWORD!))).status,
    ).to.equal(200);

    // Callbacks: unsigned, signed with another secret, stale, tampered; and the token where a
    // careless client might put it.
    const facts = await db.pool.query(
      'select id, user_id, amount, payment_idempotency_key from orders where id = $1',
      [ids[0]],
    );
    const row = facts.rows[0];
    const raw = JSON.stringify(
      paymentCallbackBody({
        id: row.id,
        userId: row.user_id,
        amount: row.amount,
        paymentIdempotencyKey: row.payment_idempotency_key,
      }),
    );
    const path = '/api/v1/orders/payment-callback';
    const json = { 'content-type': 'application/json' };
    const refused = [
      await request(base, 'POST', path, raw, json),
      await request(base, 'POST', path, raw, {
        ...json,
        ...signedWebhookHeaders(newWebhookSecret(), raw),
      }),
      await request(base, 'POST', path, raw, {
        ...json,
        ...signedWebhookHeaders(secrets.PAYMENTS_WEBHOOK_SECRET!, raw, {
          timestamp: Math.floor(Date.now() / 1000) - 3600,
        }),
      }),
      await request(base, 'POST', path, `${raw} `, {
        ...json,
        ...signedWebhookHeaders(secrets.PAYMENTS_WEBHOOK_SECRET!, raw),
      }),
      await request(base, 'POST', path, '{not json', {
        ...json,
        'webhook-signature': `v1,${secrets.PAYMENTS_WEBHOOK_SECRET}`,
      }),
    ];
    expect(refused.map((r) => r.status)).to.deep.equal([401, 401, 401, 401, 401]);
    expect(
      (
        await request(
          base,
          'GET',
          `/api/v1/orders?user_id=u&token=${encodeURIComponent(secrets.CAPASHINO_SERVICE_ACCESS_TOKEN!)}`,
          undefined,
          { 'x-api-key': secrets.CAPASHINO_SERVICE_ACCESS_TOKEN! },
        )
      ).status,
    ).to.equal(400);

    // Stop them all as the platform would, so shutdown lines are in too.
    await Promise.all(
      children.map(async ({ child }) => {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }),
    );

    const logs = children.map(({ name, out }) => `--- ${name}\n${out.text}`).join('\n');
    // The logs are real: each process wrote at trace level and about what happened above.
    for (const { name, out } of children) expect(out.text.split('\n').length, name).to.be.above(20);
    // Nothing logs at trace yet; debug lines (kafkajs requests among them) show the level took.
    expect(logs).to.match(/"level":20,/);
    expect(logs).to.include('payment callback refused');
    expect(logs).to.include('"reason":"signature_mismatch"');
    expect(logs).to.include('"reason":"stale_timestamp"');
    expect(logs).to.match(/"path":"\/admin\/dead-letters","status":401/);
    expect(logs).to.include('shipping result taken in');
    assertNoSecretsIn(logs, secrets, "the processes' output");
  });
});
