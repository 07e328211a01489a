import Joi from 'joi';
import { oneOf, positiveInt, variable } from './define.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** What every process reads: web, worker, consumer and the release phase. */
export const processes = {
  title: 'Processes',
  variables: {
    nodeEnv: variable({
      env: 'NODE_ENV',
      rule: oneOf(['development', 'production', 'test']),
      default: 'development',
      description:
        'Kind of run; the Docker image sets production, where the web process refuses unsafe ' +
        'settings (docs/operations.md, Production settings).',
    }),
    logLevel: variable({
      env: 'LOG_LEVEL',
      rule: oneOf(LOG_LEVELS).lowercase(),
      default: 'info',
      description: 'Lowest bunyan level written.',
    }),
    shutdownTimeoutMs: variable({
      env: 'SHUTDOWN_TIMEOUT_MS',
      rule: positiveInt.max(29000),
      default: 25000,
      description: "Bound on a graceful shutdown (SIGTERM), in ms; below Heroku's 30 s.",
    }),
    healthPort: variable({
      env: 'HEALTH_PORT',
      rule: Joi.number().port(),
      default: 0,
      description: 'Health and metrics port of the worker and consumer processes; 0 turns it off.',
    }),
  },
};
