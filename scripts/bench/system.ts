/**
 * The system under test and what it runs on, all the benchmark's own: a fresh database (created,
 * migrated, dropped at the end), a BullMQ prefix `{bench-<random>}` (its keys deleted with SCAN at
 * the end, never FLUSHALL), the in-repo Kafka broker, the development peers with no delays, and
 * the service's processes. Every piece registers its own undoing with the cleanup as it starts.
 *
 * Two ways to run the service:
 *   - processes (default): web, worker and consumer as separate OS processes, as in production,
 *     and the development Catalog as one more (it is another service; in the bench process it
 *     would share an event loop with the load generator);
 *   - in-process (--in-process): scripts/dev.ts's startDev, everything in the bench process.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startWeb } from '../../api/server.js';
import { createDatabase } from '../../db/client.js';
import { createLogger, silentLogger } from '../../lib/platform/logger.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../testkit/database.js';
import { deletePrefixKeys, startPrivateRedis } from '../testkit/redis.js';
import { startDev } from '../dev.js';
import { startBroker } from '../kafka-broker/broker.js';
import { startCatalogPeer } from '../peers/catalog.js';
import { startNotificationsPeer } from '../peers/notifications.js';
import { startPaymentsPeer } from '../peers/payments.js';
import { startShippingPeer } from '../peers/shipping.js';
import { freePort } from '../testkit/ports.js';
import { getStatus, startServiceProcess, type ServiceProcess } from './children.js';
import type { Cleanup } from './cleanup.js';
import type { RoundTripCounter } from './pg-round-trips.js';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const REDIS_URL =
  process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A Redis of the run's own (the testkit's private redis-server: a free loopback port, nothing
 * persisted), so that its command counts and CPU are the service's alone, not those of tests or
 * other clients of a shared one. Undefined when redis-server cannot be started here (the run
 * then uses REDIS_URL); BENCH_REDIS_SERVER names another binary.
 */
export async function privateRedis(cleanup: Cleanup): Promise<string | undefined> {
  const redis = await startPrivateRedis([], process.env.BENCH_REDIS_SERVER).catch(() => undefined);
  if (!redis) return undefined;
  // Its own client would add to the counts: only the URL is used.
  redis.client.disconnect();
  cleanup.add(`private Redis (port ${redis.port})`, () => redis.stop());
  return redis.url;
}

/** Bound on a service process becoming ready (tsx compiles on start; 2 cores start 4 at once). */
const READY_TIMEOUT_MS = 90_000;

export interface BenchResources {
  database: TestDatabase;
  redis: { url: string; prefix: string; flush(): Promise<number> };
  tmpDir: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** The benchmark creates and drops databases and deletes keys: only ever on this machine. */
function assertLoopback(what: string, url: string): void {
  const host = new URL(url).hostname;
  if (!LOOPBACK.has(host)) {
    throw new Error(`${what} must be on a loopback address for the benchmark, got ${host}`);
  }
}

export async function prepareResources(cleanup: Cleanup): Promise<BenchResources> {
  assertLoopback('Postgres (TEST_DATABASE_ADMIN_URL)', ADMIN_URL);
  assertLoopback('Redis (BENCH_REDIS_URL / TEST_REDIS_URL)', REDIS_URL);
  const tmpDir = await mkdtemp(join(tmpdir(), 'order-bench-'));
  cleanup.add('temporary files', () => rm(tmpDir, { recursive: true, force: true }));
  const prefix = `{bench-${randomBytes(5).toString('hex')}}`;
  const url =
    (process.env.BENCH_REDIS_URL === undefined ? await privateRedis(cleanup) : undefined) ??
    REDIS_URL;
  const redis = { url, prefix, flush: () => deletePrefixKeys(prefix, url) };
  cleanup.add(`Redis keys ${prefix}:*`, () => redis.flush());
  const database = await createTestDatabase('bench');
  cleanup.add(`database ${database.name}`, () => database.drop());
  return { database, redis, tmpDir };
}

/** Collects log lines (every one at WARN or above, given LOG_LEVEL=warn): counted, last few kept. */
export class LogSink extends Writable {
  lines = 0;
  private readonly last: string[] = [];
  constructor(readonly name: string) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      this.lines++;
      this.last.push(line);
      if (this.last.length > 20) this.last.shift();
    }
    done();
  }
  tail(): string[] {
    return [...this.last];
  }
}

export interface PartLog {
  name: string;
  /** Log lines at WARN or above (LOG_LEVEL=warn), and anything that is not a log line. */
  lines: number;
  tail: string[];
}

export interface RunningSystem {
  mode: 'processes' | 'in-process';
  /** The (first) web process; Payments calls it back. */
  apiUrl: string;
  /** Every web process (--web n); intake spreads its connections over them. */
  apiUrls: string[];
  /** DB_POOL_MAX of the web process. */
  poolSize: number;
  /** Stops the worker and consumer so that intake runs alone; says what it did. */
  quiesce(): Promise<string>;
  logs(): PartLog[];
  /** Process ids of the parts running as processes, for CPU accounting. */
  pids(): Record<string, number | undefined>;
  /** Postgres round trips the service's processes made so far (see pg-round-trips.ts). */
  pgRoundTrips(): Promise<Record<string, number> | undefined>;
}

export interface SystemOptions {
  inProcess: boolean;
  /** Where the service processes write V8 CPU profiles (--profile); kept after the run. */
  profileDir?: string;
  /** Web processes to run (processes mode), as web dynos scale out. */
  webProcesses: number;
  /** Worker processes to run (processes mode), as worker dynos scale out. */
  workerProcesses: number;
  /** Run web, worker and consumer from dist/ as the Procfile does (built beforehand). */
  compiled: boolean;
  /** Counts the service processes' Postgres round trips; unset in-process. */
  roundTrips?: RoundTripCounter;
  poolSize: number;
  signal: AbortSignal;
  progress(line: string): void;
}

/** Environment for a child: only what it needs, so a developer's own settings cannot leak in. */
export function baseEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];
  // OTEL_* pass through: `OTEL_TRACES_EXPORTER=otlp npm run bench` measures tracing's cost.
  return Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => keep.includes(k) || k.startsWith('OTEL_'))
      .map((k) => [k, process.env[k]]),
  );
}

export async function startSystem(
  resources: BenchResources,
  options: SystemOptions,
  cleanup: Cleanup,
): Promise<RunningSystem> {
  const { database, redis } = resources;
  const peerLog = new LogSink('peers');
  const peerLogger = createLogger({ name: 'bench-peers', level: 'warn', out: peerLog });
  const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;

  const broker = await startBroker({ logger: silentLogger() });
  cleanup.add('Kafka broker', () => broker.stop());
  const payments = await startPaymentsPeer({
    webhookSecret,
    callbackDelayMs: 0,
    logger: peerLogger.child({ peer: 'payments' }),
  });
  cleanup.add('Payments peer', () => payments.stop());
  const notifications = await startNotificationsPeer({
    logger: peerLogger.child({ peer: 'notifications' }),
  });
  cleanup.add('Notifications peer', () => notifications.stop());
  const shipping = await startShippingPeer({
    brokers: [broker.address],
    delayMs: 0,
    logger: peerLogger.child({ peer: 'shipping' }),
  });
  cleanup.add('Shipping peer', () => shipping.stop());

  const webPort = await freePort();
  const apiUrl = `http://127.0.0.1:${webPort}`;
  const serviceEnv: NodeJS.ProcessEnv = {
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    DB_POOL_MAX: String(options.poolSize),
    REDIS_URL: redis.url,
    BULLMQ_PREFIX: redis.prefix,
    KAFKA_BOOTSTRAP_SERVERS: broker.address,
    PAYMENTS_SERVICE_API_URL: `${payments.url}/api/payments`,
    NOTIFICATIONS_SERVICE_API_URL: `${notifications.url}/api/notifications`,
    PAYMENTS_CALLBACK_URL: `${apiUrl}/api/v1/orders/payment-callback`,
    PAYMENTS_WEBHOOK_SECRET: webhookSecret,
    // A stuck shutdown must not hold the benchmark for the production 25 s.
    SHUTDOWN_TIMEOUT_MS: '5000',
    // `DATABASE_PREPARED_STATEMENTS=false npm run bench`: what PgBouncer 1.18 makes an order cost.
    ...(process.env.DATABASE_PREPARED_STATEMENTS === undefined
      ? {}
      : { DATABASE_PREPARED_STATEMENTS: process.env.DATABASE_PREPARED_STATEMENTS }),
  };

  if (options.inProcess) {
    const catalog = await startCatalogPeer();
    cleanup.add('Catalog peer', () => catalog.stop());
    const devLog = new LogSink('service (in-process)');
    const dev = await startDev({
      env: {
        ...serviceEnv,
        PORT: String(webPort),
        CATALOG_SERVICE_API_URL: `${catalog.url}/api/items`,
        // The bench started its own Shipping peer, with no delay.
        SHIPPING_PEER: 'off',
        // Webhook deliveries are not part of the measured order path.
        WEBHOOK_RECEIVER: 'off',
      },
      out: devLog,
    });
    let stopDev: Promise<void> | undefined;
    cleanup.add('service (in-process)', () => (stopDev ??= dev.stop()));
    return {
      mode: 'in-process',
      apiUrl,
      apiUrls: [apiUrl],
      poolSize: options.poolSize,
      async quiesce() {
        // startDev has no way to stop only its worker and consumer: stop it all and start the
        // web part alone on the same port, with the same configuration.
        await (stopDev ??= dev.stop());
        const logger = createLogger({ name: 'web', level: 'warn', out: devLog });
        const database = createDatabase({
          url: dev.config.databaseUrl,
          max: 10,
          logger,
          preparedStatements: dev.config.databasePreparedStatements,
        });
        cleanup.add('web database pool', () => database.close());
        const web = await startWeb(dev.config, { logger, database, port: webPort });
        cleanup.add('web (in-process)', () => web.stop());
        return 'in-process: the development mode was stopped and its web part restarted alone';
      },
      pids: () => ({}),
      pgRoundTrips: async () => undefined,
      logs: () => [
        { name: devLog.name, lines: devLog.lines, tail: devLog.tail() },
        { name: peerLog.name, lines: peerLog.lines, tail: peerLog.tail() },
      ],
    };
  }

  const catalogPort = await freePort();
  const [workerHealth, consumerHealth] = [await freePort(), await freePort()];
  const env = { ...baseEnv(), NODE_ENV: 'production', ...serviceEnv };
  const start = (name: string, entry: string, extra: NodeJS.ProcessEnv): ServiceProcess => {
    const child = startServiceProcess({
      name,
      entry,
      // The Catalog peer is a script, never compiled.
      compiled: options.compiled && name !== 'catalog',
      cwd: REPO,
      env: { ...env, ...extra },
      stdoutIsLog: name !== 'catalog',
      // One directory per process: tsx's loader thread writes a profile of its own beside the
      // main thread's (node names them CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile).
      nodeArgs: [
        ...(options.profileDir
          ? ['--cpu-prof', `--cpu-prof-dir=${join(options.profileDir, name)}`]
          : []),
        ...(name !== 'catalog' && options.roundTrips ? options.roundTrips.nodeArgs : []),
      ],
    });
    cleanup.add(`${name} process`, () => child.stop());
    return child;
  };
  const catalog = start('catalog', 'scripts/peers/catalog.ts', {
    ...baseEnv(),
    CATALOG_PORT: String(catalogPort),
  });
  const catalogUrl = `http://127.0.0.1:${catalogPort}`;
  const webPorts = [webPort];
  while (webPorts.length < options.webProcesses) webPorts.push(await freePort());
  const webs = webPorts.map((port, i) =>
    start(i === 0 ? 'web' : `web-${i + 1}`, 'api/server.ts', {
      PORT: String(port),
      CATALOG_SERVICE_API_URL: `${catalogUrl}/api/items`,
    }),
  );
  const apiUrls = webPorts.map((port) => `http://127.0.0.1:${port}`);
  const workerPorts = [workerHealth];
  while (workerPorts.length < options.workerProcesses) workerPorts.push(await freePort());
  const workers = workerPorts.map((port, i) =>
    start(i === 0 ? 'worker' : `worker-${i + 1}`, 'jobs/worker.ts', { HEALTH_PORT: String(port) }),
  );
  const consumer = start('consumer', 'jobs/shipping-consumer.ts', {
    HEALTH_PORT: String(consumerHealth),
  });
  options.progress(
    `started catalog (pid ${catalog.pid}), web (${webs.map((w) => w.pid).join(', ')}), ` +
      `worker (${workers.map((w) => w.pid).join(', ')}), consumer (${consumer.pid}); ` +
      'waiting for them to be ready',
  );
  await Promise.all([
    catalog.waitReady(`${catalogUrl}/`, READY_TIMEOUT_MS, options.signal),
    ...webs.map((web, i) =>
      web.waitReady(`${apiUrls[i]}/health/ready`, READY_TIMEOUT_MS, options.signal),
    ),
    ...workers.map((worker, i) =>
      worker.waitReady(
        `http://127.0.0.1:${workerPorts[i]}/health/ready`,
        READY_TIMEOUT_MS,
        options.signal,
      ),
    ),
    // Ready means a member of its consumer group, so no shipping response waits for a join.
    consumer.waitReady(
      `http://127.0.0.1:${consumerHealth}/health/ready`,
      READY_TIMEOUT_MS,
      options.signal,
    ),
  ]);
  const children = [catalog, ...webs, ...workers, consumer];
  return {
    mode: 'processes',
    apiUrl,
    apiUrls,
    poolSize: options.poolSize,
    async quiesce() {
      await Promise.all([...workers.map((w) => w.stop()), consumer.stop()]);
      // The web processes must still be serving.
      for (const url of apiUrls) {
        const status = await getStatus(`${url}/health/ready`, 2000);
        if (status !== 200) throw new Error(`web not ready after stopping the worker (${status})`);
      }
      return (
        `${workers.length > 1 ? `${workers.length} worker processes` : 'worker'} and consumer ` +
        'stopped (SIGTERM) before intake; ' +
        `${webs.length > 1 ? `${webs.length} web processes` : 'web'} and Catalog kept`
      );
    },
    pids: () => Object.fromEntries(children.filter((c) => !c.exited).map((c) => [c.name, c.pid])),
    pgRoundTrips: async () =>
      options.roundTrips?.read(
        Object.fromEntries(
          children.flatMap((c) =>
            c === catalog || c.exited || c.pid === undefined ? [] : [[c.name, c.pid]],
          ),
        ),
      ),
    logs: () => [
      ...children.map((c) => ({
        name: `${c.name} process`,
        lines: c.warnings + c.errors,
        tail: c.tail(),
      })),
      { name: peerLog.name, lines: peerLog.lines, tail: peerLog.tail() },
    ],
  };
}
