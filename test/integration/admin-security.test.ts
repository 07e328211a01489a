import { expect } from 'chai';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { closeRedis, createRedis } from '../../jobs/redis.js';
import { startTestApiOnRedis } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';

const USER = 'ops';
const PASSWORD = 'admin-security-pw-7f3c';
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const AUTH = basic(USER, PASSWORD);
const WRONG = basic(USER, 'not-the-password');

/** Requests as if from `ip`, behind one proxy (TRUST_PROXY_HOPS=1, as on Heroku) that says so. */
const from = (ip: string, headers: Record<string, string> = {}) => ({
  'x-forwarded-for': ip,
  ...headers,
});

/** Every route Bull Board serves, its parameters filled in, from the installed package itself. */
function boardRoutes(): { method: string; path: string }[] {
  const fill = (route: string) =>
    route
      .replace(':queueName', 'payments')
      .replace(':queueStatus', 'failed')
      .replace(':jobId', 'outbox-1')
      .replace(':schedulerId', 'sched-1');
  const routes = [appRoutes.entryPoint, ...appRoutes.api];
  const list = <T>(x: T | T[]) => (Array.isArray(x) ? x : [x]);
  return routes.flatMap((r) =>
    list(r.method).flatMap((method) =>
      list(r.route).map((route) => ({
        method: method.toUpperCase(),
        path: `/admin/queues${fill(route) === '/' ? '' : fill(route)}`,
      })),
    ),
  );
}

describe('admin routes: credentials and their limit', function () {
  this.timeout(30000);
  const api = startedForSuite(() =>
    startTestApiOnRedis({
      label: 'admin_security',
      env: { ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD, TRUST_PROXY_HOPS: '1' },
    }),
  );

  it('when any admin route is called without credentials, then 401 with a Basic challenge', async () => {
    const routes = [
      ...boardRoutes(),
      { method: 'GET', path: '/admin/queues/static/js/main.js' },
      { method: 'GET', path: '/admin/dead-letters' },
      { method: 'POST', path: '/admin/dead-letters/1/replay' },
      { method: 'GET', path: '/metrics' },
    ];
    expect(routes.length).to.be.above(30);
    for (const { method, path } of routes) {
      const res = await api.request(method, path, undefined, from('198.51.100.1'));
      expect(res.status, `${method} ${path}`).to.equal(401);
      expect(res.headers.get('www-authenticate'), path).to.match(/^Basic realm=/);
      expect(res.body.errors[0], path).to.include({ code: 'unauthorized', field: 'authorization' });
    }
  });

  it('when any method and path under /admin is tried without credentials, then 401 (an admin route added later is covered)', async () => {
    // `.` and `..` are not names: a client resolves them away (`/admin/..` is `/`).
    const segment = fc
      .stringMatching(/^[A-Za-z0-9._~-]{1,12}$/)
      .filter((s) => s !== '.' && s !== '..');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
        fc.array(segment, { minLength: 0, maxLength: 4 }),
        async (method, segments) => {
          const path = `/admin/${segments.join('/')}`;
          const res = await api.request(method, path, undefined, from('198.51.100.2'));
          expect(res.status, `${method} ${path}`).to.equal(401);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('when a destructive board call comes without credentials, then the queue is untouched', async () => {
    const connection = createRedis(api.redis.url, 'producer');
    const queue = new Queue('payments', { connection, prefix: api.redis.prefix });
    try {
      await queue.add('payment.requested', { outboxId: 1 }, { jobId: 'kept-1', delay: 60_000 });
      for (const path of ['/obliterate', '/empty', '/pause', '/clean/delayed']) {
        const res = await api.request(
          'PUT',
          `/admin/queues/api/queues/payments${path}`,
          undefined,
          from('198.51.100.3', WRONG),
        );
        expect(res.status, path).to.equal(401);
      }
      expect(await queue.getJobState('kept-1')).to.equal('delayed');
      expect(await queue.isPaused()).to.equal(false);
    } finally {
      await queue.close();
      await closeRedis(connection);
    }
  });

  it('when one IP keeps sending wrong credentials, then after 10 failures it gets 429 with Retry-After, even with the right password', async () => {
    const ip = '203.0.113.10';
    for (let i = 0; i < 10; i++) {
      const res = await api.request('GET', '/admin/dead-letters', undefined, from(ip, WRONG));
      expect(res.status, `attempt ${i + 1}`).to.equal(401);
    }
    const limited = await api.request('GET', '/admin/dead-letters', undefined, from(ip, WRONG));
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 15 * 60);
    expect(limited.body.errors[0]).to.include({
      code: 'too_many_requests',
      field: 'authorization',
    });
    // A guesser over the limit learns nothing: the right password is refused alike.
    const right = await api.request('GET', '/admin/dead-letters', undefined, from(ip, AUTH));
    expect(right.status).to.equal(429);
    // Others are not affected.
    const other = await api.request(
      'GET',
      '/admin/dead-letters',
      undefined,
      from('203.0.113.11', AUTH),
    );
    expect(other.status).to.equal(200);
  });

  it('when failures are spread over /metrics and /admin, then they count against one budget', async () => {
    const ip = '203.0.113.20';
    for (let i = 0; i < 10; i++) {
      const path = i % 2 ? '/metrics' : '/admin/queues/api/queues';
      expect((await api.request('GET', path, undefined, from(ip, WRONG))).status).to.equal(401);
    }
    expect((await api.request('GET', '/metrics', undefined, from(ip, AUTH))).status).to.equal(429);
  });

  it('when 30 wrong guesses come at once from one IP, then at most 10 are checked and the rest get 429', async () => {
    const ip = '203.0.113.30';
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        api.request('GET', '/admin/dead-letters', undefined, from(ip, WRONG)),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401)).to.have.length(10);
    expect(statuses.filter((s) => s === 429)).to.have.length(20);
  });

  it('when requests carry no credentials, or the right ones, then they do not use up the budget', async () => {
    const ip = '203.0.113.40';
    for (let i = 0; i < 15; i++) {
      expect((await api.request('GET', '/metrics', undefined, from(ip))).status).to.equal(401);
      expect((await api.request('GET', '/metrics', undefined, from(ip, AUTH))).status).to.equal(
        200,
      );
    }
    expect((await api.request('GET', '/metrics', undefined, from(ip, WRONG))).status).to.equal(401);
  });

  it('when 30 requests with the right credentials come at once, then every one is answered, and wrong ones still count', async () => {
    // Bull Board's page, or an operator retrying many failed jobs, sends admin calls in parallel.
    const ip = '203.0.113.45';
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        api.request('GET', '/admin/queues/api/queues', undefined, from(ip, AUTH)),
      ),
    );
    expect(answers.map((a) => a.status)).to.deep.equal(Array(30).fill(200));
    for (let i = 0; i < 10; i++) {
      expect((await api.request('GET', '/metrics', undefined, from(ip, WRONG))).status).to.equal(
        401,
      );
    }
    const limited = await api.request('GET', '/metrics', undefined, from(ip, AUTH));
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 15 * 60);
  });

  it('when a client forges X-Forwarded-For, then its failures still count against the address the proxy saw', async () => {
    // The proxy appends the address it saw; only that last entry is believed (one hop trusted).
    const seen = '203.0.113.50';
    for (let i = 0; i < 10; i++) {
      const forged = `10.0.0.${i}, ${seen}`;
      const res = await api.request('GET', '/metrics', undefined, from(forged, WRONG));
      expect(res.status).to.equal(401);
    }
    const res = await api.request('GET', '/metrics', undefined, from(`10.9.9.9, ${seen}`, WRONG));
    expect(res.status).to.equal(429);
  });
});
