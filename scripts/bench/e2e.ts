/**
 * Target 1: from `POST /api/v1/orders` being sent to the order's `shipped` status-history row
 * being written, through the whole running system (web, relay, processors, Payments and its signed
 * callback, Kafka to Shipping and back, the consumer). The shipped time is read from Postgres
 * (`order_status_history.created_at`, the same machine's clock) once the run is over; while it
 * runs, one aggregate count per poll tells when every order is final, so the system is never
 * loaded by per-order reads. The outbox and inbox rows' stamps then split each order's time into
 * hops, which is where a miss would be diagnosed.
 */
import http from 'node:http';
import { Redis } from 'ioredis';
import {
  readStoreCounts,
  storeCostSince,
  type StoreCost,
  type StoreCounts,
} from './store-counts.js';
import type pg from 'pg';
import { cpuSince, cpuSnapshot, type CpuSnapshot, type CpuUsage } from './cpu.js';
import { keepAliveAgent, newOrderRequest, postOrder, type PostResult } from './http-client.js';
import { epochMs, sleep, summarize, type Summary } from './stats.js';

export interface E2EOptions {
  apiUrl: string;
  pool: pg.Pool;
  signal?: AbortSignal;
  /** Bound on waiting for the orders to become final after the last POST. */
  settleTimeoutMs: number;
  /** The service's process ids, for CPU accounting (none in-process). */
  pids: Record<string, number | undefined>;
  /** For counting the Redis commands a run costs (Redis counts every client's). */
  redisUrl: string;
  /** The bench database: Postgres's CPU and statistics count only its processes (see cpu.ts). */
  database: string;
  /** The service's Postgres round trips so far (see pg-round-trips.ts). */
  pgRoundTrips?: () => Promise<Record<string, number> | undefined>;
}

export interface E2ERun {
  label: string;
  orders: number;
  /** Orders per second sent, open loop (undefined: a burst, closed loop). */
  rate?: number;
  /** POSTs answered 201. */
  created: number;
  /** POSTs that failed or were not answered 201, with the first few reasons. */
  postFailures: number;
  postFailureSamples: string[];
  shipped: number;
  cancelled: number;
  /** Created orders still neither shipped nor cancelled when the wait ended. */
  unfinished: number;
  /** POST sent → shipped history row, ms, over shipped orders. */
  latency: Summary;
  /** POST sent → answer received, ms. */
  postLatency: Summary;
  /** Each hop of the way, ms (see HOPS). */
  hops: Record<HopName, Summary>;
  /** The slowest orders, hop by hop. */
  slowest: { orderId: string; totalMs: number; hops: Partial<Record<HopName, number>> }[];
  /** First POST sent → every order final (or the wait given up). */
  seconds: number;
  /** First POST sent → last POST sent (steady) or answered (burst). */
  sendSeconds: number;
  /** The created orders (left out of --json: see report.ts). */
  orderIds: string[];
  /** CPU used from the first POST until every order was final. */
  cpu: CpuUsage;
  /** What the run cost Redis and Postgres (see store-counts.ts); undefined when unreadable. */
  stores?: StoreCost;
}

/** The hops, in order; they add up to POST sent → shipped. */
export const HOPS = {
  intake: 'POST sent → order inserted (web: validation, Catalog, insert)',
  relayPayment: 'relay: order → payments job dispatched',
  payment: 'payments job → callback stored (POST to Payments, its signed webhook)',
  relayPaid: 'relay: callback → inbox job dispatched',
  applyPaid: 'inbox job → order paid',
  relayShipping: 'relay: paid → shipping job dispatched',
  produce: 'shipping job → request produced to Kafka',
  kafka: 'Kafka: Shipping answers, consumer stores the response',
  relayShipped: 'relay: response → inbox job dispatched',
  applyShipped: 'inbox job → order shipped',
} as const;
export type HopName = keyof typeof HOPS;

const POLL_MS = 100;

/** Sends `count` orders at `rate` per second (open loop: a slow answer does not delay the next). */
export async function runSteady(
  options: E2EOptions,
  label: string,
  count: number,
  rate: number,
): Promise<E2ERun> {
  const agent = keepAliveAgent(64);
  try {
    const storesBefore = await readStoreCounts(
      options.redisUrl,
      options.pool,
      options.database,
      options.pgRoundTrips,
    );
    const cpu = cpuSnapshot(options.pids, options.database);
    const t0 = performance.now();
    const sends: Promise<PostResult>[] = [];
    for (let i = 0; i < count; i++) {
      if (options.signal?.aborted) break;
      await sleep(t0 + (i * 1000) / rate - performance.now());
      sends.push(postOrder(agent, options.apiUrl, newOrderRequest(i)));
    }
    const sent = performance.now();
    const results = await Promise.all(sends);
    return await finish(options, label, results, t0, sent, cpu, storesBefore, rate);
  } finally {
    agent.destroy();
  }
}

/**
 * Sends `count` orders over `concurrency` connections (opened beforehand), each sending its next
 * order as soon as the previous one is answered: as many clients hammering the service at once.
 */
export async function runBurst(
  options: E2EOptions,
  label: string,
  count: number,
  concurrency: number,
): Promise<E2ERun> {
  const lanes = Math.min(count, concurrency);
  const agent = keepAliveAgent(lanes);
  try {
    // Open the sockets first, so the burst measures the service and not TCP handshakes.
    await Promise.all(
      Array.from({ length: lanes }, () =>
        fetchHealth(agent, options.apiUrl).catch(() => undefined),
      ),
    );
    const storesBefore = await readStoreCounts(
      options.redisUrl,
      options.pool,
      options.database,
      options.pgRoundTrips,
    );
    const cpu = cpuSnapshot(options.pids, options.database);
    const t0 = performance.now();
    const results: PostResult[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < count && !options.signal?.aborted) {
          const i = next++;
          results[i] = await postOrder(agent, options.apiUrl, newOrderRequest(i));
        }
      }),
    );
    const sent = performance.now();
    const answered = results.filter((r): r is PostResult => r !== undefined);
    return await finish(options, label, answered, t0, sent, cpu, storesBefore, undefined);
  } finally {
    agent.destroy();
  }
}

function fetchHealth(agent: http.Agent, apiUrl: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    http
      .get(`${apiUrl}/health/live`, { agent }, (res) => {
        res.resume();
        res.once('end', resolve);
      })
      .once('error', reject);
  });
}

async function finish(
  options: E2EOptions,
  label: string,
  results: PostResult[],
  t0: number,
  lastSent: number,
  cpuBefore: CpuSnapshot,
  storesBefore: StoreCounts | undefined,
  rate: number | undefined,
): Promise<E2ERun> {
  const created = results.filter((r) => r.status === 201 && r.orderId);
  const failures = results.filter((r) => !(r.status === 201 && r.orderId));
  const ids = created.map((r) => r.orderId!);
  const final = await waitFinal(options, ids);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSince(cpuBefore, cpuSnapshot(options.pids, options.database));
  const storesAfter = await readStoreCounts(
    options.redisUrl,
    options.pool,
    options.database,
    options.pgRoundTrips,
  );
  const timings = await orderTimings(options.pool, ids);
  const sentAt = new Map(created.map((r) => [r.orderId!, r.sentAt]));

  const totals: number[] = [];
  const hops = Object.fromEntries(Object.keys(HOPS).map((h) => [h, [] as number[]])) as Record<
    HopName,
    number[]
  >;
  const perOrder: E2ERun['slowest'] = [];
  for (const id of ids) {
    const t = timings.get(id);
    const sent = sentAt.get(id)!;
    if (!t?.shipped) continue;
    const h = hopsOf(sent, t);
    totals.push(t.shipped - sent);
    for (const [name, value] of Object.entries(h) as [HopName, number][]) hops[name].push(value);
    perOrder.push({ orderId: id, totalMs: t.shipped - sent, hops: h });
  }
  perOrder.sort((a, b) => b.totalMs - a.totalMs);

  return {
    label,
    orders: results.length,
    rate,
    created: created.length,
    postFailures: failures.length,
    postFailureSamples: failures.slice(0, 3).map((f) => (f.error ? f.error : `HTTP ${f.status}`)),
    shipped: final.shipped,
    cancelled: final.cancelled,
    unfinished: ids.length - final.shipped - final.cancelled,
    latency: summarize(totals),
    postLatency: summarize(results.filter((r) => r.status === 201).map((r) => r.doneAt - r.sentAt)),
    hops: Object.fromEntries(
      Object.entries(hops).map(([name, values]) => [name, summarize(values)]),
    ) as Record<HopName, Summary>,
    slowest: perOrder.slice(0, 5),
    seconds,
    sendSeconds: (lastSent - t0) / 1000,
    orderIds: ids,
    cpu,
    stores: storesBefore && storesAfter ? storeCostSince(storesBefore, storesAfter) : undefined,
  };
}

/** Polls one aggregate count until every order is shipped or cancelled, or the bound passes. */
async function waitFinal(
  options: E2EOptions,
  ids: string[],
): Promise<{ shipped: number; cancelled: number }> {
  const deadline = Date.now() + options.settleTimeoutMs;
  for (;;) {
    const { rows } = await options.pool.query<{ shipped: number; cancelled: number }>(
      `select count(*) filter (where status = 'shipped')::int as shipped,
              count(*) filter (where status = 'cancelled')::int as cancelled
       from orders where id = any($1::uuid[])`,
      [ids],
    );
    const counts = rows[0]!;
    if (counts.shipped + counts.cancelled >= ids.length || Date.now() >= deadline) return counts;
    if (options.signal?.aborted) return counts;
    await sleep(POLL_MS);
  }
}

/** Epoch-ms stamps of one order's way through the system, from its rows. */
interface OrderTimings {
  inserted?: number;
  paid?: number;
  shipped?: number;
  payments?: OutboxStamps;
  shipping?: OutboxStamps;
  /** The inbox rows (payment result, shipping result) and their `inbox` outbox rows. */
  paymentInbox?: { created: number; job?: OutboxStamps };
  shippingInbox?: { created: number; job?: OutboxStamps };
}

interface OutboxStamps {
  created: number;
  dispatched?: number;
  completed?: number;
}

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;

async function orderTimings(pool: pg.Pool, ids: string[]): Promise<Map<string, OrderTimings>> {
  const out = new Map<string, OrderTimings>(ids.map((id) => [id, {}]));
  const history = await pool.query<{ order_id: string; status: string; at: number }>(
    `select order_id, status, ${ms('created_at')} as at
     from order_status_history where order_id = any($1::uuid[])`,
    [ids],
  );
  for (const h of history.rows) {
    const t = out.get(h.order_id)!;
    if (h.status === 'new') t.inserted = h.at;
    else if (h.status === 'paid') t.paid = h.at;
    else if (h.status === 'shipped') t.shipped = h.at;
  }
  const inbox = await pool.query<{ id: number; order_id: string; source: string; at: number }>(
    `select id, order_id, source, ${ms('created_at')} as at
     from inbox where order_id = any($1::uuid[])`,
    [ids],
  );
  const inboxById = new Map<number, { created: number; job?: OutboxStamps }>();
  for (const i of inbox.rows) {
    const t = out.get(i.order_id)!;
    const entry = { created: i.at };
    inboxById.set(Number(i.id), entry);
    if (i.source === 'payments') t.paymentInbox = entry;
    else if (i.source === 'shipping') t.shippingInbox = entry;
  }
  const rows = await pool.query<{
    order_id: string;
    queue: string;
    inbox_id: string | null;
    created: number;
    dispatched: number | null;
    completed: number | null;
  }>(
    `select order_id, queue, payload->>'inbox_id' as inbox_id, ${ms('created_at')} as created,
            ${ms('dispatched_at')} as dispatched, ${ms('completed_at')} as completed
     from outbox where order_id = any($1::uuid[])`,
    [ids],
  );
  for (const r of rows.rows) {
    const stamps: OutboxStamps = {
      created: r.created,
      dispatched: r.dispatched ?? undefined,
      completed: r.completed ?? undefined,
    };
    const t = out.get(r.order_id)!;
    if (r.queue === 'payments') t.payments = stamps;
    else if (r.queue === 'shipping') t.shipping = stamps;
    else if (r.queue === 'inbox' && r.inbox_id !== null) {
      const entry = inboxById.get(Number(r.inbox_id));
      if (entry) entry.job = stamps;
    }
  }
  return out;
}

/**
 * Each hop from the stamps; `now()` in Postgres is the writing transaction's start, so a row's
 * created_at is when its transaction began and dispatched_at when the relay's claim began.
 */
function hopsOf(sent: number, t: OrderTimings): Partial<Record<HopName, number>> {
  const d = (to: number | undefined, from: number | undefined) =>
    to === undefined || from === undefined ? undefined : to - from;
  const hops: Partial<Record<HopName, number | undefined>> = {
    intake: d(t.inserted, sent),
    relayPayment: d(t.payments?.dispatched, t.payments?.created),
    payment: d(t.paymentInbox?.created, t.payments?.dispatched),
    relayPaid: d(t.paymentInbox?.job?.dispatched, t.paymentInbox?.job?.created),
    applyPaid: d(t.paid, t.paymentInbox?.job?.dispatched),
    relayShipping: d(t.shipping?.dispatched, t.shipping?.created),
    produce: d(t.shipping?.completed, t.shipping?.dispatched),
    kafka: d(t.shippingInbox?.created, t.shipping?.completed),
    relayShipped: d(t.shippingInbox?.job?.dispatched, t.shippingInbox?.job?.created),
    applyShipped: d(t.shipped, t.shippingInbox?.job?.dispatched),
  };
  return Object.fromEntries(Object.entries(hops).filter(([, v]) => v !== undefined)) as Partial<
    Record<HopName, number>
  >;
}

/**
 * The pid of the Redis server at `url` (INFO server), so its CPU is read from that process alone;
 * undefined when unreadable (then every redis-server on the machine is counted, as before).
 */
export async function redisServerPid(url: string): Promise<number | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const m = /process_id:(\d+)/.exec(await client.info('server'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** A quick check that the bench's clock and Postgres's agree (the stamps are compared across). */
export async function clockOffsetMs(pool: pg.Pool): Promise<number> {
  const before = epochMs();
  const { rows } = await pool.query<{ at: number }>(`select ${ms('clock_timestamp()')} as at`);
  const after = epochMs();
  return rows[0]!.at - (before + after) / 2;
}
