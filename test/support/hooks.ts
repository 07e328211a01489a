/**
 * Mocha's global fixtures (loaded through .mocharc.json's `require`): the services every test
 * needs are checked once before the run, and what the whole run shares is stopped once at the end.
 */
import { ensureServicesOrExit, type ServiceTarget } from '../../scripts/dev/ensure-services.js';
import { ADMIN_URL } from '../../scripts/testkit/database.js';
import { stopSharedTestBroker } from '../../scripts/testkit/kafka.js';
import { TEST_REDIS_URL } from '../../scripts/testkit/redis.js';

/**
 * The local Postgres and Redis the tests default to: brought up when they do not answer (root on
 * Debian or Ubuntu), else one message saying how. A service given by TEST_DATABASE_ADMIN_URL or
 * TEST_REDIS_URL is someone else's, and left alone.
 */
export function localTestServices(env: NodeJS.ProcessEnv = process.env): ServiceTarget[] {
  return [
    ...(env.TEST_DATABASE_ADMIN_URL
      ? []
      : [{ name: 'PostgreSQL' as const, url: ADMIN_URL, variable: 'TEST_DATABASE_ADMIN_URL' }]),
    ...(env.TEST_REDIS_URL
      ? []
      : [{ name: 'Redis' as const, url: TEST_REDIS_URL, variable: 'TEST_REDIS_URL' }]),
  ];
}

export async function mochaGlobalSetup(): Promise<void> {
  await ensureServicesOrExit(localTestServices());
}

export async function mochaGlobalTeardown(): Promise<void> {
  await stopSharedTestBroker();
}
