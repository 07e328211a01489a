/**
 * The one way a Procfile process starts and stops. An entry file hands over what is its own (its
 * parts and how they stop); the runner does what every process does the same way:
 * - reads and validates the configuration, exiting 1 with every problem named;
 * - makes the logger, the metrics registry and the Postgres pool;
 * - serves /health and /metrics on HEALTH_PORT when the process asks for it;
 * - on SIGTERM or SIGINT stops the process's parts, then the health port and the pool, within
 *   SHUTDOWN_TIMEOUT_MS (Heroku kills 30 s after SIGTERM), exiting 0, or 1 when cut short;
 * - on a failed start, or a fatal error later, logs it, releases what was opened and exits 1 so
 *   the platform restarts the process.
 */
import { createDatabase, type Database } from '../../db/client.js';
import { loadConfigOrExit, type Config } from './config.js';
import type { ProcessName } from './config/define.js';
import type { ReadinessChecks } from './health.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { exitOnSignals } from './shutdown.js';
import { shutdownTracing } from './trace-context.js';

export interface ProcessKit {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  database: Database;
  /**
   * For a failure the process cannot recover from after it started (the entries hand it to their
   * parts as `onFatal`): log, release, exit 1 so the platform restarts the process.
   */
  onFatal(err: Error): void;
}

export interface RunningProcess {
  /** Stops the process's own parts; the runner closes the pool and the health port after it. */
  stop(): Promise<void>;
  /** Checks served at /health/ready on HEALTH_PORT (worker, consumer); web serves its own. */
  readiness?: ReadinessChecks;
}

export interface ProcessSpec {
  /** The Procfile type: `web`, `worker`, `consumer`. Logger name and Postgres application_name. */
  name: ProcessName;
  start(kit: ProcessKit): Promise<RunningProcess>;
}

/** Starts a long-running process and keeps it until a signal. Never resolves or rejects. */
export function runProcess(spec: ProcessSpec, env: NodeJS.ProcessEnv = process.env): void {
  const config = loadConfigOrExit(env, { process: spec.name });
  const logger = createLogger({ name: spec.name, level: config.logLevel });
  const metrics = createMetrics();
  const database = createDatabase({
    url: config.databaseUrl,
    max: config.dbPoolMax,
    logger,
    applicationName: `order-service-${spec.name}`,
    preparedStatements: config.databasePreparedStatements,
  });
  let health: HealthServer | undefined;
  let dying = false;
  const die = (err: unknown, message: string) => {
    if (dying) return;
    dying = true;
    logger.fatal({ err }, message);
    Promise.allSettled([health?.stop(), database.close(), shutdownTracing()]).finally(() =>
      process.exit(1),
    );
  };
  const onFatal = (err: Error) => die(err, `${spec.name} cannot go on; exiting for a restart`);
  const kit: ProcessKit = { config, logger, metrics, database, onFatal };

  spec
    .start(kit)
    .then(async (running) => {
      if (running.readiness && config.healthPort) {
        health = await startHealthServer({
          port: config.healthPort,
          logger,
          metrics,
          checks: running.readiness,
        });
      }
      exitOnSignals(
        async () => {
          try {
            await health?.stop();
            await running.stop();
          } finally {
            await database.close();
            // The last spans (the stop itself) are exported before the process exits.
            await shutdownTracing().catch((err: unknown) =>
              logger.warn({ err }, 'could not flush traces'),
            );
          }
        },
        config.shutdownTimeoutMs,
        logger,
      );
      logger.info({ process: spec.name }, 'ready');
    })
    .catch((err: unknown) => die(err, `${spec.name} failed to start`));
}

/** Runs a one-off task (the release phase) with the same configuration and logging; exits 0 or 1. */
export function runTask(
  name: string,
  task: (kit: { config: Config; logger: Logger }) => Promise<void>,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const config = loadConfigOrExit(env);
  const logger = createLogger({ name, level: config.logLevel });
  task({ config, logger }).then(
    () => process.exit(0),
    (err: unknown) => {
      logger.fatal({ err }, `${name} failed`);
      process.exit(1);
    },
  );
}
