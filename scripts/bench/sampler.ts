/**
 * What piles up while a load runs, sampled at a steady interval: open outbox rows (neither
 * completed nor failed: every side effect not yet done, whether waiting for the relay, waiting in
 * BullMQ or running), jobs waiting in BullMQ (wait + prioritized + delayed, all queues), and each
 * service process's resident memory. One query per sample, read through the partial index the
 * outbox_oldest_open_seconds gauge uses, and one Redis round per queue every REDIS_EVERY samples
 * (BullMQ's count script runs several commands per queue: read every 250 ms, they would be about
 * 150 of the Redis commands a second that the run counts per order), so sampling costs the system
 * little. A sample is taken only once the previous one answered: a slow database spaces
 * the samples out instead of piling up queries.
 */
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { QUEUE_NAMES } from '../../db/outbox/events.js';
import { sleep } from './stats.js';

export interface BacklogSample {
  /** ms since the sampler started. */
  atMs: number;
  outboxOpen: number;
  jobsWaiting?: number;
}

export interface Samples {
  backlog: BacklogSample[];
  /** Peak resident set per process, MB. */
  peakRssMb: Record<string, number>;
  /** The first sample's, MB: what the peak grew from over the run. */
  firstRssMb: Record<string, number>;
}

export interface Sampler {
  /** Stops sampling (after the sample under way) and returns what was sampled. */
  stop(): Promise<Samples>;
}

export interface SamplerOptions {
  pool: pg.Pool;
  redisUrl: string;
  prefix: string;
  /** Processes whose RSS to sample. */
  pids: Record<string, number | undefined>;
  intervalMs: number;
}

/** Resident set size of a process in MB (VmRSS), or undefined when it is gone or not Linux. */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    // Gone, or no /proc.
    return undefined;
  }
}

export async function openOutboxRows(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'select count(*)::int as n from outbox where completed_at is null and failed_at is null',
  );
  return rows[0]!.n;
}

/**
 * Polls until no outbox row is open and every order is final (shipped or cancelled), or
 * `timeoutMs` passes; true when the system went idle. Both, because an order waiting for Shipping's
 * answer on Kafka has no open outbox row.
 */
export async function waitIdle(
  pool: pg.Pool,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `select (select count(*) from outbox where completed_at is null and failed_at is null)
            + (select count(*) from orders where status not in ('shipped', 'cancelled')) as n`,
    );
    if (Number(rows[0]!.n) === 0) return true;
    if (Date.now() >= deadline || signal?.aborted) return false;
    await sleep(100);
  }
}

/** Jobs waiting are read every this many samples (once a second at the bench's 250 ms). */
const REDIS_EVERY = 4;

export function startSampler(options: SamplerOptions): Sampler {
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  // Counting only: a sample that fails to read Redis goes without the figure.
  connection.on('error', () => undefined);
  const queues = QUEUE_NAMES.map((name) => new Queue(name, { connection, prefix: options.prefix }));
  const backlog: BacklogSample[] = [];
  const peakRssMb: Record<string, number> = {};
  const firstRssMb: Record<string, number> = {};
  const t0 = performance.now();
  let stopped = false;

  const waitingJobs = async (): Promise<number | undefined> => {
    try {
      const counts = await Promise.all(
        queues.map((q) => q.getJobCounts('wait', 'prioritized', 'delayed')),
      );
      return counts.reduce((s, c) => s + Object.values(c).reduce((a, b) => a + b, 0), 0);
    } catch {
      return undefined;
    }
  };

  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const next = performance.now() + options.intervalMs;
      const atMs = performance.now() - t0;
      const [outboxOpen, jobsWaiting] = await Promise.all([
        openOutboxRows(options.pool),
        n % REDIS_EVERY === 0 ? waitingJobs() : undefined,
      ]);
      backlog.push({ atMs, outboxOpen, jobsWaiting });
      for (const [name, pid] of Object.entries(options.pids)) {
        const mb = pid === undefined ? undefined : rssMb(pid);
        if (mb === undefined) continue;
        firstRssMb[name] ??= mb;
        peakRssMb[name] = Math.max(peakRssMb[name] ?? 0, mb);
      }
      await sleep(next - performance.now());
    }
  })();

  return {
    async stop() {
      stopped = true;
      try {
        await loop;
      } finally {
        await Promise.all(queues.map((q) => q.close()));
        connection.disconnect();
      }
      return { backlog, peakRssMb, firstRssMb };
    },
  };
}

/** The samples taken while the load was being sent (the first `seconds` of the sampling). */
export function sendingPeriod(samples: BacklogSample[], seconds: number): BacklogSample[] {
  return samples.filter((s) => s.atMs <= seconds * 1000);
}
