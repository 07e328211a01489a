/**
 * Root hooks of the fault suite (test/faults/.mocharc.json requires this file): the summary table
 * and its JSON once every scenario has finished.
 */
import { writeReport } from './report.js';
import { DEFAULT_CONCURRENCY, SEED } from './schedule.js';

export const mochaHooks = {
  afterAll(): void {
    writeReport({
      seed: SEED,
      concurrency: Number(process.env.FAULTS_CONCURRENCY ?? DEFAULT_CONCURRENCY),
    });
  },
};
