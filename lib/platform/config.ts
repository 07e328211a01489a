/**
 * Every setting the service reads, validated once at start-up. Each environment variable is
 * declared once, in lib/platform/config/ (name, rule, default, description, secret); the
 * validation, the typed config, .env.example and docs/configuration.md's table all come from there. Names
 * follow the original service where it had one (CATALOG_SERVICE_API_URL, ...) and the
 * platform's otherwise (PORT, DATABASE_URL, REDIS_URL, Heroku Kafka's KAFKA_*). Defaults make a
 * local run work against 127.0.0.1.
 */
import Joi from 'joi';
import { database } from './config/database.js';
import {
  readTree,
  variablesOf,
  type ProcessName,
  type Section,
  type Settings,
} from './config/define.js';
import { jobs, jobsProblems } from './config/jobs.js';
import { kafka, kafkaProblems, kafkaSettings } from './config/kafka.js';
import { peers } from './config/peers.js';
import { processes } from './config/processes.js';
import { redis } from './config/redis.js';
import { release } from './config/release.js';
import { trustProxyHopsOf, web, webProblems, webProductionProblems } from './config/web.js';
import { webhooks } from './config/webhooks.js';

export { parseBrokers, type SaslMechanism } from './config/kafka.js';
export { paymentsRefundsUrl } from './config/peers.js';
export { directDatabaseUrl } from './config/database.js';

/** In the order .env.example and docs/configuration.md list them. A new section goes here and in TREE. */
export const SECTIONS: readonly Section[] = [
  processes,
  web,
  database,
  redis,
  peers,
  kafka,
  jobs,
  webhooks,
  release,
];

/** The shape of the config: the sections' variables flat, Kafka's and the jobs' in their own. */
const TREE = {
  ...processes.variables,
  ...web.variables,
  ...database.variables,
  ...redis.variables,
  ...peers.variables,
  kafka: kafka.variables,
  jobs: jobs.variables,
  ...webhooks.variables,
  ...release.variables,
};

export type Config = Omit<Settings<typeof TREE>, 'kafka' | 'trustProxyHops'> & {
  kafka: ReturnType<typeof kafkaSettings>;
  trustProxyHops: number;
};

const VARIABLES = variablesOf(TREE);

/** Every environment variable the service reads. */
export const CONFIG_VARIABLES: string[] = VARIABLES.map((v) => v.env);

const envSchema = Joi.object(
  Object.fromEntries(
    VARIABLES.map((v) => [v.env, v.default === undefined ? v.rule : v.rule.default(v.default)]),
  ),
).unknown(true);

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadOptions {
  /**
   * The Procfile process that will run on this config. With NODE_ENV=production it adds that
   * process's refusals of unsafe defaults (the web process: an unsigned webhook, a weak admin
   * password). Left out (tests, tools, the dev mode), only the rules every process shares apply.
   */
  process?: ProcessName;
}

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: LoadOptions = {},
): Config {
  const { error, value } = envSchema.validate(env, {
    abortEarly: false,
    convert: true,
    // joi's pattern messages are the only ones that quote the value, and a value here may be a
    // secret: none is ever echoed (test/unit/config-docs.test.ts tries every variable).
    messages: {
      'string.pattern.name': '{#label} must look like {#name}',
      'string.pattern.base': '{#label} has the wrong form',
      'string.pattern.invert.name': '{#label} must not look like {#name}',
      'string.pattern.invert.base': '{#label} has the wrong form',
    },
  });
  if (error) {
    throw new ConfigError(
      error.details.map(
        (d) => `${String(d.path.join('.'))}: ${d.message.replace(/^"[^"]*" /, '')}`,
      ),
    );
  }

  const settings = readTree(TREE, value as Record<string, unknown>);
  const problems = [
    ...kafkaProblems(settings.kafka),
    ...webProblems(settings),
    ...jobsProblems(settings.jobs),
    ...(settings.nodeEnv === 'production' && options.process === 'web'
      ? webProductionProblems(settings)
      : []),
  ];
  if (problems.length) throw new ConfigError(problems);
  return {
    ...settings,
    trustProxyHops: trustProxyHopsOf(settings),
    kafka: kafkaSettings(settings.kafka),
  };
}

/** Entry points call this: a bad configuration prints one line per problem and exits 1. */
export function loadConfigOrExit(
  env: NodeJS.ProcessEnv = process.env,
  options: LoadOptions = {},
): Config {
  try {
    return loadConfig(env, options);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
