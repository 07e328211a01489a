/**
 * Mocha's global fixtures (loaded through .mocharc.json's `require`): what the whole run shares
 * is stopped once at the end.
 */
import { stopSharedTestBroker } from './kafka.js';

export async function mochaGlobalTeardown(): Promise<void> {
  await stopSharedTestBroker();
}
