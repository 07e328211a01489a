/**
 * What DATABASE_PREPARED_STATEMENTS=false costs: the intake use case (createOrder: the lookup by
 * idempotency key and the one-statement insert of the order, its history and outbox rows) run
 * one order at a time on one connection, with named prepared statements and without, in
 * alternating rounds. Reports the CPU per order of this Node process and of the Postgres backend
 * serving the connection (from /proc, so Postgres must run on this machine). Direct to Postgres:
 * PgBouncer's own CPU is the same either way.
 *
 *   npx tsx scripts/bench/prepared-statements.ts [orders per round, default 2000] [rounds, 3]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createDatabase } from '../../db/client.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { createOrder } from '../../lib/orders/create-order.js';
import type { Catalog } from '../../lib/peers/catalog.js';
import { createTestDatabase } from '../testkit/database.js';

const perRound = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);
const ITEM = { id: randomUUID(), name: 'bench item', price: '2.50', availableQty: 1_000_000 };
// The peer's answer is given, not fetched: only the database work is measured.
const catalog: Catalog = { getItem: () => Promise.resolve(ITEM) };
const TICK_MS = 10; // USER_HZ on Linux: /proc's CPU times are in 1/100 s

function backendCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
}

const tdb = await createTestDatabase('bench_prepared');
const totals = { on: { node: 0, pg: 0, ms: 0 }, off: { node: 0, pg: 0, ms: 0 } };
try {
  for (let round = 0; round < rounds; round++) {
    for (const side of ['on', 'off'] as const) {
      const database = createDatabase({
        url: tdb.url,
        max: 1,
        logger: silentLogger(),
        preparedStatements: side === 'on',
      });
      const { rows } = await database.pool.query<{ pid: number }>('select pg_backend_pid() as pid');
      const pid = rows[0]!.pid;
      const deps = { db: database.db, catalog };
      const order = () =>
        createOrder(deps, {
          itemId: ITEM.id,
          quantity: 2,
          userId: 'bench',
          idempotencyKey: randomUUID(),
        });
      for (let i = 0; i < 50; i++) await order(); // warm: plans cached, JIT settled
      const pg0 = backendCpuMs(pid);
      const node0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < perRound; i++) await order();
      totals[side].ms += performance.now() - t0;
      const node = process.cpuUsage(node0);
      totals[side].node += (node.user + node.system) / 1000;
      totals[side].pg += backendCpuMs(pid) - pg0;
      await database.close();
    }
  }
} finally {
  await tdb.drop();
}
const n = perRound * rounds;
const per = (ms: number) => `${((ms / n) * 1000).toFixed(0)} µs`;
for (const side of ['on', 'off'] as const) {
  const t = totals[side];
  console.log(
    `prepared statements ${side.padEnd(3)}: node ${per(t.node)}, postgres ${per(t.pg)}, ` +
      `wall ${per(t.ms)} per order (${n} orders)`,
  );
}
