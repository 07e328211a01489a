import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { healthcheckPort } from '../../lib/platform/healthcheck.js';
import { freePort } from '../../scripts/testkit/ports.js';

const SCRIPT = fileURLToPath(new URL('../../lib/platform/healthcheck.ts', import.meta.url));

/** Runs the image's HEALTHCHECK command as Docker would (a fresh process); resolves to its exit code. */
async function runHealthcheck(env: NodeJS.ProcessEnv): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { PATH: process.env.PATH, ...env },
    stdio: 'ignore',
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

/** A process's health endpoint answering `status` to /health/live, 404 to anything else. */
async function healthEndpoint(status: number) {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(req.url ?? '');
    res.writeHead(req.url === '/health/live' ? status : 404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    asked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("the image's HEALTHCHECK (lib/platform/healthcheck.ts)", function () {
  this.timeout(30000);

  it('when HEALTH_PORT is unset or 0, then it asks PORT (the web process); when set, then HEALTH_PORT', () => {
    expect(healthcheckPort({})).to.equal(8000);
    expect(healthcheckPort({ PORT: '5000', HEALTH_PORT: '0' })).to.equal(5000);
    expect(healthcheckPort({ PORT: '5000', HEALTH_PORT: '9000' })).to.equal(9000);
  });

  it('when /health/live answers 200, then it exits 0', async () => {
    const endpoint = await healthEndpoint(200);
    try {
      expect(await runHealthcheck({ PORT: String(endpoint.port) })).to.equal(0);
      expect(endpoint.asked).to.deep.equal(['/health/live']);
    } finally {
      await endpoint.close();
    }
  });

  it('when /health/live answers 503, then it exits 1', async () => {
    const endpoint = await healthEndpoint(503);
    try {
      expect(await runHealthcheck({ HEALTH_PORT: String(endpoint.port) })).to.equal(1);
    } finally {
      await endpoint.close();
    }
  });

  it('when nothing listens on the port, then it exits 1', async () => {
    expect(await runHealthcheck({ PORT: String(await freePort()) })).to.equal(1);
  });
});
