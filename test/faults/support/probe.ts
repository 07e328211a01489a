/**
 * A client in a process of its own that keeps asking the API, one request at a time (a new order,
 * then a read of a known one, in turn), and reports each answer's status and time. Apart, so the
 * times are the API's and not this busy test process's: its event loop also runs peers, load and
 * ledgers of scenarios running beside it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Attempt } from './load.js';

export interface ProbeAttempt extends Attempt {
  method: 'POST' | 'GET';
  /** The answer's Retry-After header, if any. */
  retryAfter: string | null;
}

export interface Probe {
  readonly attempts: ProbeAttempt[];
  /** Stops it and resolves once it has exited (no request of it is in flight any more). */
  stop(): Promise<ProbeAttempt[]>;
}

const CODE = `
  import { randomUUID } from 'node:crypto';
  const [url, orderId, itemId] = process.argv.slice(1);
  let stopping = false;
  process.on('SIGTERM', () => { stopping = true; });
  for (let i = 0; !stopping; i++) {
    const post = i % 2 === 0;
    const startedAt = Date.now();
    let outcome;
    let retryAfter = null;
    try {
      const res = await fetch(post ? url + '/api/v1/orders' : url + '/api/v1/orders/' + orderId, {
        method: post ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json' },
        body: post ? JSON.stringify({ item_id: itemId, quantity: 1, user_id: 'probe',
                                      idempotency_key: randomUUID() }) : undefined,
        signal: AbortSignal.timeout(10000),
      });
      await res.arrayBuffer();
      outcome = res.status;
      retryAfter = res.headers.get('retry-after');
    } catch (err) {
      outcome = err.name === 'TimeoutError' ? 'timeout' : 'error';
    }
    const method = post ? 'POST' : 'GET';
    console.log(JSON.stringify({ method, startedAt, ms: Date.now() - startedAt, outcome, retryAfter }));
    await new Promise((r) => setTimeout(r, 20));
  }
`;

export function startProbe(url: string, orderId: string, itemId: string): Probe {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CODE, url, orderId, itemId], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const attempts: ProbeAttempt[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    attempts.push(JSON.parse(line) as ProbeAttempt);
  });
  // 'close', not 'exit': its last lines may still be on their way when it exits.
  const exited = once(child, 'close');
  return {
    attempts,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return attempts;
    },
  };
}
