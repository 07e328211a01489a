import { positiveInt, variable } from './define.js';

/** The release phase (`db/migrate.ts`), which migrates while the old processes still serve. */
export const release = {
  title: 'Release',
  variables: {
    migrationLockTimeoutMs: variable({
      env: 'MIGRATION_LOCK_TIMEOUT_MS',
      // Every query on the table queues behind a DDL statement waiting for its lock: this bound is
      // the longest a release may hold intake up per try, so a second, not more.
      rule: positiveInt.max(10_000),
      default: 1000,
      description:
        "lock_timeout of each migration statement, in ms: a statement that waits longer for its table's " +
        'lock gives up (intake queues behind it meanwhile) and is tried again after a pause.',
    }),
    migrationLockAttempts: variable({
      env: 'MIGRATION_LOCK_ATTEMPTS',
      rule: positiveInt.max(1000),
      default: 40,
      description:
        'Tries of one migration statement that keeps meeting lock_timeout before the release fails; ' +
        'the pauses between them double from 0.5 s up to 15 s.',
    }),
  },
};
