/**
 * Postgres round trips, counted in the service's own processes: Postgres's statistics count
 * transactions and statements, not how often a client waits for an answer (BEGIN travels with the
 * first statement, a CTE does several writes in one). node-postgres sends exactly one request
 * per `Client#query` (a simple query, or parse/bind/execute/sync as one write), so the count of
 * those calls is the count of round trips.
 *
 * The service processes load a small preload (`--import` of a data: URL, so nothing of it is in
 * the service's code) that wraps `Client#query` with a counter and writes the count to
 * `<dir>/<pid>` when sent SIGUSR2. Reading signals each process and waits for its file.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from './stats.js';

const SIGNAL = 'SIGUSR2';
const READ_TIMEOUT_MS = 2000;

export interface RoundTripCounter {
  /** Node flags that load the counter into a service process. */
  nodeArgs: string[];
  /** Round trips so far of each process named; undefined when one did not answer. */
  read(pids: Record<string, number>): Promise<Record<string, number> | undefined>;
}

export function roundTripCounter(dir: string): RoundTripCounter {
  // `pg` is resolved from the process's working directory, the repository, exactly as the
  // service resolves it, so the prototype wrapped is the one its pools use.
  const preload = `
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
const pg = createRequire(process.cwd() + '/')('pg');
let n = 0;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) { n += 1; return query.apply(this, args); };
process.on(${JSON.stringify(SIGNAL)}, () => writeFileSync(${JSON.stringify(dir)} + '/' + process.pid, String(n)));
`;
  return {
    nodeArgs: ['--import', `data:text/javascript,${encodeURIComponent(preload)}`],
    async read(pids) {
      const counts: Record<string, number> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const file = join(dir, String(pid));
        await rm(file, { force: true });
        try {
          process.kill(pid, SIGNAL);
        } catch {
          return undefined;
        }
        const count = await waitForCount(file);
        if (count === undefined) return undefined;
        counts[name] = count;
      }
      return counts;
    },
  };
}

async function waitForCount(file: string): Promise<number | undefined> {
  const until = Date.now() + READ_TIMEOUT_MS;
  while (Date.now() < until) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (/^\d+$/.test(text)) return Number(text);
    await sleep(10);
  }
  return undefined;
}
