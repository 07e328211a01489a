/**
 * The outbox relay's micro-benchmark alone (a part of `npm run bench`, which runs it too):
 * commit → job start latency and relay throughput, against local Postgres and Redis, in a fresh
 * database and a unique BullMQ prefix, both removed afterwards. The measuring lives in
 * scripts/bench/relay.ts.
 * Usage: tsx scripts/bench/relay-main.ts [samples=300] [rows=20000]
 */
import { createTestDatabase } from '../testkit/database.js';
import { createTestRedisPrefix } from '../testkit/redis.js';
import { runRelayBench } from './relay.js';

const samples = Number(process.argv[2] ?? 300);
const rows = Number(process.argv[3] ?? 20_000);

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function main(): Promise<void> {
  if (!Number.isInteger(samples) || samples < 1 || !Number.isInteger(rows) || rows < 1) {
    throw new Error('usage: tsx scripts/bench/relay-main.ts [samples ≥ 1] [rows ≥ 1]');
  }
  const database = await createTestDatabase('bench');
  const redis = createTestRedisPrefix();
  try {
    const { latency, throughput } = await runRelayBench({
      database,
      redis,
      samples,
      rows,
      batchSizes: [500, 1000],
    });
    const { total, hops } = latency;
    console.log(
      `commit → job start over ${total.n} rows: p50 ${fmt(total.p50)}, p99 ${fmt(total.p99)}, ` +
        `max ${fmt(total.max)}`,
    );
    console.log(
      `  p50/p99: commit → addBulk ${fmt(hops.commitToAdded.p50)}/${fmt(hops.commitToAdded.p99)}, ` +
        `addBulk → moveToActive ${fmt(hops.addedToActive.p50)}/${fmt(hops.addedToActive.p99)}, ` +
        `moveToActive → processor ${fmt(hops.activeToHandler.p50)}/${fmt(hops.activeToHandler.p99)}`,
    );
    for (const t of throughput) {
      console.log(
        `relay throughput, batch ${t.batchSize}: ${t.rows} rows in ${t.seconds.toFixed(2)} s = ` +
          `${Math.round(t.rowsPerSecond)} rows/s`,
      );
    }
  } finally {
    await redis.flush();
    await database.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
