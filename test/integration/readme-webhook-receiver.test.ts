import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { freePort } from '../../scripts/testkit/ports.js';
import { waitFor } from '../../scripts/testkit/wait.js';

/** The README's receiver example, exactly as printed there (the first `ts` block of its section). */
async function readmeExample(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split('\n## Order webhooks\n')[1]?.split('\n## ')[0] ?? '';
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('README.md has no ts block under "## Order webhooks"');
  return code;
}

/**
 * The README's 20-line webhook receiver, run as a newcomer would run it, against deliveries signed
 * as the service signs them: a doc that stops working fails here.
 */
describe('README: the webhook receiver example', function () {
  this.timeout(30000);
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  let dir: string;
  let child: ChildProcess;
  let output = '';
  let url: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'readme-receiver-'));
    // Outside the repository the package is not found by name: point the import at it.
    const code = (await readmeExample()).replace(
      "from 'standardwebhooks'",
      `from '${import.meta.resolve('standardwebhooks')}'`,
    );
    // .mts: an ES module, as the example is in an ESM project (outside this one's package.json).
    const file = path.join(dir, 'receiver.mts');
    await writeFile(file, code);
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    child = spawn(process.execPath, ['--import', 'tsx/esm', file], {
      env: { PATH: process.env.PATH, WEBHOOK_SECRET: secret, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the example exited: ${output}`);
        return fetch(url).then(
          () => true,
          () => false,
        );
      },
      { timeoutMs: 20000, intervalMs: 100, what: 'the example to listen' },
    );
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function signed(orderId: string, webhookId = `msg_${randomUUID()}`) {
    const body = JSON.stringify({
      type: 'order.paid',
      timestamp: new Date().toISOString(),
      data: { id: orderId, status: 'paid' },
    });
    const at = new Date();
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': webhookId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(webhookId, at, body),
      },
    };
  }

  it('when a signed delivery comes twice, then both get 204 and it is acted on once', async () => {
    const orderId = randomUUID();
    const d = signed(orderId);

    const first = await fetch(url, { method: 'POST', ...d });
    const again = await fetch(url, { method: 'POST', ...d });

    expect([first.status, again.status]).to.deep.equal([204, 204]);
    const line = `order.paid: order ${orderId} is paid`;
    await waitFor(() => output.includes(line), { timeoutMs: 5000, what: `"${line}"` });
    expect(output.split(line).length - 1).to.equal(1);
  });

  it('when the body was tampered with, then 401 and nothing is acted on', async () => {
    const orderId = randomUUID();
    const d = signed(orderId);

    const res = await fetch(url, {
      method: 'POST',
      headers: d.headers,
      body: d.body.replace('paid"}', 'shipped"}'),
    });

    expect(res.status).to.equal(401);
    expect(output).to.not.include(orderId);
  });
});
