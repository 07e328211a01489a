/**
 * The Procfile's `worker` entry: the outbox relay, one BullMQ worker per queue, the reconciler
 * and retention (jobs/start-worker.ts wires them), run by the one process runner.
 */
import { isMain } from '../lib/platform/main.js';
import { runProcess } from '../lib/platform/runner.js';
import { startWorker, workerReadiness } from './start-worker.js';

if (isMain(import.meta.url)) {
  runProcess({
    name: 'worker',
    async start({ config, ...kit }) {
      const running = await startWorker(config, kit);
      return {
        stop: () => running.stop(),
        readiness: workerReadiness(running, kit.database, kit.logger),
      };
    },
  });
}
