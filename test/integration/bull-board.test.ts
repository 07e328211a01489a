import { expect } from 'chai';
import { expectRetriedThroughBullBoard } from '../support/bull-board-retry.js';
import { startWeb } from '../../api/server.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { request, startTestApi, startTestApiOnRedis, testConfig } from '../support/api.js';
import { startedForSuite } from '../support/suite.js';

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const AUTH = basic(USER, PASSWORD);

/** The CSP header as directive → sources. */
function csp(header: string | null): Map<string, string[]> {
  expect(header, 'Content-Security-Policy header').to.be.a('string');
  return new Map(
    header!
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

describe('Bull Board at /admin/queues, and the web process on Redis', () => {
  describe('when ADMIN_USER and ADMIN_PASSWORD are unset', () => {
    const api = startedForSuite(() => startTestApi({ label: 'board_off' }));

    it('when anything under /admin is asked for, with or without credentials, then 404', async () => {
      for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin']) {
        expect((await api.request('GET', path)).status, path).to.equal(404);
        expect((await api.request('GET', path, undefined, AUTH)).status, path).to.equal(404);
      }
    });

    it('when readiness is asked, then Redis is checked too', async () => {
      const ready = await api.request('GET', '/health/ready');
      expect(ready.status).to.equal(200);
      expect(ready.body.data.checks).to.include({ postgres: 'ok', redis: 'ok' });
    });

    it('when readiness is asked the moment the web process has started, then Redis is ok', async () => {
      const web = await startWeb(api.config, { logger: silentLogger(), database: api.db, port: 0 });
      try {
        const ready = await request(`http://127.0.0.1:${web.port}`, 'GET', '/health/ready');
        expect(ready.status).to.equal(200);
        expect(ready.body.data.checks.redis).to.equal('ok');
      } finally {
        await web.stop();
      }
    });

    it('when Redis is unreachable, then ready is 503 naming redis, without its error', async () => {
      const config = testConfig({
        DATABASE_URL: api.db.url,
        CATALOG_SERVICE_API_URL: api.catalog.url,
        REDIS_URL: 'redis://127.0.0.1:1',
      });
      const web = await startWeb(config, { logger: silentLogger(), database: api.db, port: 0 });
      try {
        const ready = await request(`http://127.0.0.1:${web.port}`, 'GET', '/health/ready');
        expect(ready.status).to.equal(503);
        expect(ready.body.data.checks.postgres).to.equal('ok');
        expect(ready.body.data.checks.redis).to.equal('down');
        expect(ready.body.errors).to.deep.equal([
          { code: 'dependency_down', field: 'redis', message: 'redis down' },
        ]);
        expect(JSON.stringify(ready.body)).not.to.match(/ECONNREFUSED|127\.0\.0\.1|connect|:1\b/);
      } finally {
        await web.stop();
      }
    });
  });

  describe('when credentials are configured', () => {
    const api = startedForSuite(() =>
      startTestApiOnRedis({
        label: 'board_on',
        env: {
          ADMIN_USER: USER,
          ADMIN_PASSWORD: PASSWORD,
          // Many failed attempts on purpose; the limit on them has its own test (admin-security).
          ADMIN_FAILED_ATTEMPTS_LIMIT: '1000',
        },
      }),
    );

    for (const [label, headers] of [
      ['no credentials', {}],
      ['a wrong password', basic(USER, 'wrong')],
      ['a wrong user', basic('root', PASSWORD)],
      [
        'no colon in the credentials',
        { authorization: `Basic ${Buffer.from(USER).toString('base64')}` },
      ],
      ['another scheme', { authorization: `Bearer ${PASSWORD}` }],
    ] as const) {
      it(`when sent with ${label}, then 401 with a Basic challenge, for the page and the API`, async () => {
        for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/other']) {
          const res = await api.request('GET', path, undefined, headers);
          expect(res.status, path).to.equal(401);
          expect(res.headers.get('www-authenticate'), path).to.match(/^Basic realm="[^"]+"/);
          expect(res.body.errors[0].code).to.equal('unauthorized');
        }
      });
    }

    it('when a path under /admin is not the board, then 404 once authenticated', async () => {
      expect((await api.request('GET', '/admin/other', undefined, AUTH)).status).to.equal(404);
    });

    it('when the page is asked for with the credentials, then 200 HTML with a CSP that lets the UI run', async () => {
      const res = await api.request('GET', '/admin/queues', undefined, AUTH);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/html/);
      expect(res.headers.get('x-powered-by')).to.equal(null);
      const page = res.body as string;
      expect(page).to.include('<div id="root">');
      expect(page).to.include('<base href="/admin/queues/"');

      const policy = csp(res.headers.get('content-security-policy'));
      expect(policy.get('script-src')).to.deep.equal(["'self'"]);
      expect(policy.get('style-src')).to.include.members(["'self'", "'unsafe-inline'"]);
      expect(policy.get('style-src')).to.include('https://fonts.googleapis.com');
      expect(policy.get('font-src')).to.include.members([
        "'self'",
        'data:',
        'https://fonts.gstatic.com',
      ]);
      expect(policy.get('img-src')).to.include.members(["'self'", 'data:']);
      expect(policy.get('connect-src')).to.deep.equal(["'self'"]);
      expect(policy.has('upgrade-insecure-requests')).to.equal(false);

      // script-src 'self' is enough only if every script that runs is a file: inline ones must be data.
      const inline = [...page.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].map((m) => m[1]);
      expect(inline.every((attrs) => /type="application\/json"/.test(attrs!))).to.equal(true);
    });

    it("when the page's scripts and styles are fetched like a browser would, then each loads", async () => {
      const page = (await api.request('GET', '/admin/queues', undefined, AUTH)).body as string;
      const assets = [...page.matchAll(/(?:src|href)="(static\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.filter((a) => a.endsWith('.js'))).to.have.length.greaterThan(0);
      expect(assets.filter((a) => a.endsWith('.css'))).to.have.length.greaterThan(0);
      for (const asset of assets) {
        const res = await fetch(`${api.url}/admin/queues/${asset}`, { headers: AUTH });
        expect(res.status, asset).to.equal(200);
        await res.arrayBuffer();
      }
    });

    it('when the API lists queues with the credentials, then it shows every queue, refunds, cancellations, payment checks and webhooks too', async () => {
      const res = await api.request('GET', '/admin/queues/api/queues', undefined, AUTH);
      expect(res.status).to.equal(200);
      expect(res.body.queues.map((q: { name: string }) => q.name)).to.have.members([
        'payments',
        'notifications',
        'shipping',
        'inbox',
        'refunds',
        'cancellations',
        'payment-checks',
        'webhooks',
      ]);
    });

    it('when a job has failed, then ops see its error and can retry it through the API, and it runs again', async () => {
      const { runs } = await expectRetriedThroughBullBoard(api.request, {
        redis: api.redis.url,
        prefix: api.redis.prefix,
        auth: AUTH,
      });
      expect(runs).to.equal(2);
    });
  });
});
