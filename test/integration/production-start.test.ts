import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';
import { storesEnv } from '../support/api.js';

/**
 * The web process as the Procfile starts it, with NODE_ENV=production: it refuses the defaults
 * that are unsafe on the internet (no webhook secret, docker-compose's admin password) before it
 * opens anything, and starts once they are replaced or explicitly waived.
 */
describe('the web process in production', function () {
  this.timeout(60000);
  let db: TestDatabase | undefined;
  let redis: TestRedisPrefix | undefined;
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await redis?.flush();
    await db?.drop();
  });

  function startWeb(env: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'api/server.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        PORT: '0',
        CATALOG_SERVICE_API_URL: 'http://127.0.0.1:1/api/items',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString()));
    return { child, out };
  }

  it("when PAYMENTS_WEBHOOK_SECRET is unset and ADMIN_PASSWORD is docker-compose's change-me, then it exits 1 naming both variables", async () => {
    const { child, out } = startWeb({ ADMIN_USER: 'admin', ADMIN_PASSWORD: 'change-me' });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, out.stdout + out.stderr).to.equal(1);
    const lines = out.stderr.trim().split('\n');
    expect(lines[0]).to.equal('invalid configuration:');
    expect(lines.slice(1).map((l) => l.trim().split(' ')[1])).to.deep.equal([
      'PAYMENTS_WEBHOOK_SECRET',
      'ADMIN_PASSWORD',
    ]);
    expect(out.stderr + out.stdout).not.to.include('change-me');
    expect(out.stdout, 'nothing started, so nothing logged').to.equal('');
  });

  it('when PAYMENTS_WEBHOOK_UNSIGNED=true waives the secret and the admin password is long, then it starts, warning that callbacks are unsigned', async () => {
    db = await createTestDatabase('production_start');
    redis = createTestRedisPrefix();
    const { child, out } = startWeb({
      ...storesEnv(db, redis),
      PAYMENTS_WEBHOOK_UNSIGNED: 'true',
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD: 'k3Vh9-wQz2rT8mPx-production',
    });
    try {
      await waitFor(() => out.stdout.includes('"msg":"web listening"') || child.exitCode !== null, {
        timeoutMs: 30000,
        intervalMs: 50,
        what: 'web listening',
      });
      expect(child.exitCode, out.stderr + out.stdout).to.equal(null);
      expect(out.stdout).to.include('payment callbacks are accepted unsigned');
    } finally {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
