/**
 * What scripts/schemathesis.sh tests: the web process on a database of its own (migrated, dropped
 * on exit) with the development Catalog, Postgres and Redis from the environment's defaults (or
 * TEST_DATABASE_ADMIN_URL / TEST_REDIS_URL). Prints `target <url>` once it listens; SIGTERM or
 * SIGINT stops it and drops the database. Its errors (a 5xx is logged as one) go to stderr.
 * The admin operations (webhook subscriptions) are on, with the credentials scripts/schemathesis.sh
 * chose and gives `st run` (ADMIN_USER, ADMIN_PASSWORD in this process's environment).
 */
import { createLogger } from '../../lib/platform/logger.js';
import { startTestApi } from '../support/api.js';
import { TEST_REDIS_URL } from '../../scripts/testkit/redis.js';

const api = await startTestApi({
  label: 'schemathesis',
  env: {
    REDIS_URL: TEST_REDIS_URL,
    // Unsigned callbacks, so the generated bodies reach validation instead of all being 401.
    PAYMENTS_WEBHOOK_SECRET: '',
    PEER_TIMEOUT_MS: '2000',
    ADMIN_USER: process.env.ADMIN_USER ?? 'schemathesis',
    ADMIN_PASSWORD: process.env.ADMIN_PASSWORD ?? 'schemathesis',
    // schemathesis sends admin operations without credentials on purpose (each must get 401):
    // with the production limit its own cases would lock it out, and every later one get 429.
    ADMIN_FAILED_ATTEMPTS_LIMIT: '1000000',
    // Generated subscriber URLs name any host; nothing is delivered (no worker runs here).
    WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
  },
  deps: { logger: createLogger({ name: 'web', level: 'error', out: process.stderr }) },
});
console.log(`target ${api.url}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await api.stop();
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
