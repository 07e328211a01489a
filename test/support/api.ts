import { startWeb, type RunningWeb, type WebDeps } from '../../api/server.js';
import { CONFIG_VARIABLES, loadConfig, type Config } from '../../lib/platform/config.js';
import { silentLogger } from '../../lib/platform/logger.js';
import { startCatalogPeer, type CatalogPeer } from '../../scripts/peers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../../scripts/testkit/database.js';
import { createTestRedisPrefix, type TestRedisPrefix } from '../../scripts/testkit/redis.js';

export interface TestApi {
  url: string;
  db: TestDatabase;
  catalog: CatalogPeer;
  config: Config;
  web: RunningWeb;
  request: RequestJson;
  stop(): Promise<void>;
}

/** A JSON request to the service under test, answered with status, headers and parsed body. */
export type RequestJson = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<TestResponse>;

export interface TestResponse {
  status: number;
  headers: Headers;
  // The envelope's content varies per route; tests assert on it field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/**
 * A configuration for tests: the environment's defaults with overrides. An override that no
 * variable declares is refused: nothing would read it, and the test would rely on a setting it
 * does not have.
 */
export function testConfig(env: Record<string, string> = {}): Config {
  const unknown = Object.keys(env).filter((name) => !CONFIG_VARIABLES.includes(name));
  if (unknown.length > 0) {
    throw new Error(`testConfig: no configuration variable is called ${unknown.join(', ')}`);
  }
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'fatal', ...env });
}

/**
 * The stores of a process under test: its own database, and its own Redis key prefix for BullMQ.
 * Spread into the environment a test builds (`{ ...storesEnv(db, redis), … }`).
 */
export function storesEnv(
  db: { url: string },
  redis: { url: string; prefix: string },
): Record<'DATABASE_URL' | 'REDIS_URL' | 'BULLMQ_PREFIX', string> {
  return { DATABASE_URL: db.url, REDIS_URL: redis.url, BULLMQ_PREFIX: redis.prefix };
}

/**
 * A worker's environment for tests that run no shipping jobs: its stores (`storesEnv`), the peers
 * standing for Payments and Notifications, and a Kafka address nothing listens on (the worker's
 * producer connects on its first send, never).
 */
export function workerEnv(
  db: { url: string },
  redis: { url: string; prefix: string },
  peers: { payments: { url: string }; notifications: { url: string } },
): Record<string, string> {
  return {
    ...storesEnv(db, redis),
    PAYMENTS_SERVICE_API_URL: peers.payments.url,
    NOTIFICATIONS_SERVICE_API_URL: peers.notifications.url,
    KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9',
  };
}

export async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<TestResponse> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Non-JSON answers (Swagger UI's HTML) stay text for the test to look at.
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The web process in-process on port 0, with its own database and a development Catalog. */
export async function startTestApi(
  opts: { env?: Record<string, string>; deps?: Partial<WebDeps>; label?: string } = {},
): Promise<TestApi> {
  const db = await createTestDatabase(opts.label ?? 'api');
  const catalog = await startCatalogPeer();
  const config = testConfig({
    DATABASE_URL: db.url,
    CATALOG_SERVICE_API_URL: `${catalog.url}/api/items`,
    PEER_TIMEOUT_MS: '300',
    ...opts.env,
  });
  const web = await startWeb(config, {
    logger: silentLogger(),
    database: db,
    port: 0,
    ...opts.deps,
  });
  const url = `http://127.0.0.1:${web.port}`;
  return {
    url,
    db,
    catalog,
    config,
    web,
    request: (method, path, body, headers) => request(url, method, path, body, headers),
    async stop() {
      await web.stop();
      await catalog.stop();
      await db.drop();
    },
  };
}

/**
 * A test API on a Redis key prefix of its own, for routes that use Redis (the admin pages read
 * BullMQ's queues); `stop()` also empties the prefix.
 */
export async function startTestApiOnRedis(
  opts: Parameters<typeof startTestApi>[0] = {},
): Promise<TestApi & { redis: TestRedisPrefix }> {
  const redis = createTestRedisPrefix();
  const api = await startTestApi({
    ...opts,
    env: { REDIS_URL: redis.url, BULLMQ_PREFIX: redis.prefix, ...opts.env },
  });
  return {
    ...api,
    redis,
    async stop() {
      await api.stop();
      await redis.flush();
    },
  };
}
