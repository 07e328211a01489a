import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request, storesEnv } from '../support/api.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { orderBody } from '../support/factories.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { freePort } from '../support/system.js';

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    // Already gone between the check and the kill: nothing left to stop.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

describe('npm run dev', function () {
  this.timeout(90000);
  let db: TestDatabase;
  let redis: TestRedisPrefix;

  before(async () => {
    db = await createTestDatabase('devcmd');
    redis = createTestRedisPrefix();
  });
  after(async () => {
    await redis?.flush();
    await db?.drop();
  });

  it('when started, then the printed curl creates an order that becomes shipped, the printed cancel example ends refunded, the printed webhook receiver lists what it got, and Ctrl-C stops it with exit 0', async () => {
    const port = await freePort();
    // Its own process group, so Ctrl-C can be sent to npm and everything under it, as a terminal does.
    const child = spawn('npm', ['run', 'dev'], {
      detached: true,
      env: {
        ...process.env,
        ...storesEnv(db, redis),
        PORT: String(port),
        KAFKA_DEV_PORT: '0',
        LOG_LEVEL: 'warn',
        CATALOG_SERVICE_API_URL: '',
        PAYMENTS_SERVICE_API_URL: '',
        NOTIFICATIONS_SERVICE_API_URL: '',
        KAFKA_BOOTSTRAP_SERVERS: '',
        KAFKA_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    try {
      await waitFor(() => output.includes('Ctrl-C stops everything'), {
        timeoutMs: 60000,
        intervalMs: 100,
        what: `the dev banner; output so far:\n${output}`,
      });
      const api = /API\s+(http:\/\/\S+)\/api\/v1\/orders/.exec(output)?.[1];
      expect(api, output).to.equal(`http://127.0.0.1:${port}`);
      const receiver = /Webhooks\s+(http:\/\/\S+\/webhooks)\s.*\n\s+(.*)/.exec(output);
      expect(receiver, `the printed webhook receiver:\n${output}`).to.not.equal(null);
      const [, receiverUrl, subscription] = receiver!;
      // Without the subscription API in the build, dev mode says so and goes on.
      expect(subscription).to.match(
        /^subscribed to every order event|^not subscribed: this build has no subscription API/,
      );
      const itemId = /"item_id":"([0-9a-f-]{36})"/.exec(output)?.[1];
      expect(itemId, 'the printed curl names a demo item').to.be.a('string');

      const created = await request(
        api!,
        'POST',
        '/api/v1/orders',
        orderBody({ item_id: itemId!, quantity: 2 }),
      );
      expect(created.status).to.equal(201);
      let status = '';
      await waitFor(
        async () => {
          status = (await request(api!, 'GET', `/api/v1/orders/${created.body.data.id}`)).body.data
            .status;
          return status === 'shipped';
        },
        { timeoutMs: 15000, intervalMs: 50, what: `order to ship (is ${status})` },
      );
      if (subscription!.startsWith('subscribed')) {
        const verified = async () =>
          (
            (await (await fetch(`${receiverUrl}?order_id=${created.body.data.id}`)).json()) as {
              deliveries: { event: string; verified: boolean; duplicate: boolean }[];
            }
          ).deliveries
            .filter((d) => d.verified && !d.duplicate)
            .map((d) => d.event);
        await waitFor(async () => (await verified()).length >= 3, {
          timeoutMs: 15000,
          what: 'the receiver to get the order’s three events',
        });
        expect(await verified()).to.deep.equal(['order.created', 'order.paid', 'order.shipped']);
      } else {
        expect((await fetch(receiverUrl!)).status).to.equal(200);
      }

      // The printed cancellation example: an order of the printed quantity, cancelled with the
      // printed body once paid, ends cancelled with its payment refunded.
      const example =
        /"quantity":(\d+),"user_id":"([^"]+)"[^\n]*\n[^\n]*\/api\/v1\/orders\/<id>\/cancel[^\n]*\n\s*-d '([^']+)'/.exec(
          output,
        );
      expect(example, `the printed cancel example:\n${output}`).to.not.equal(null);
      const [, quantity, userId, cancelBody] = example!;
      const toCancel = await request(
        api!,
        'POST',
        '/api/v1/orders',
        orderBody({ item_id: itemId!, quantity: Number(quantity), user_id: userId! }),
      );
      const cancelId = toCancel.body.data.id as string;
      const read = async () => (await request(api!, 'GET', `/api/v1/orders/${cancelId}`)).body.data;
      await waitFor(async () => (await read()).status === 'paid', {
        timeoutMs: 15000,
        intervalMs: 50,
        what: 'the order to cancel to be paid',
      });
      const cancelled = await request(
        api!,
        'POST',
        `/api/v1/orders/${cancelId}/cancel`,
        JSON.parse(cancelBody!),
      );
      expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(202);
      let last: { status?: string; refund_status?: string } = {};
      await waitFor(async () => (last = await read()).refund_status === 'refunded', {
        timeoutMs: 20000,
        intervalMs: 50,
        what: 'the cancelled order to be refunded',
      }).catch((err: Error) => {
        throw new Error(`${err.message} (last seen: ${JSON.stringify(last)})`);
      });
      expect(last.status).to.equal('cancelled');

      const exited = once(child, 'exit');
      process.kill(-child.pid!, 'SIGINT');
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      // npm itself re-raises the Ctrl-C it got; the service under it must have stopped cleanly.
      expect(code === 0 || signal === 'SIGINT', `exit ${code} ${signal}`).to.equal(true);
      await waitFor(() => output.includes('stopped cleanly'), {
        timeoutMs: 20000,
        what: 'the clean-stop line',
      });
      const bad = output.split('\n').filter((l) => /did not stop cleanly|ERROR|FATAL/.test(l));
      expect(bad, 'lines of the dev output that report an error').to.deep.equal([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) killGroup(child.pid!);
    }
  });
});
