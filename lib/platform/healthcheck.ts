/**
 * The Docker image's HEALTHCHECK: asks the process of this container for `/health/live` and exits
 * 0 when it answers 2xx, 1 otherwise. The web process serves it on PORT; the worker and the
 * consumer on HEALTH_PORT, so a container of theirs needs HEALTH_PORT set (docker-compose.yml sets
 * it) for the check to pass. Liveness, not readiness: a Postgres outage is not cured by a restart.
 */
import { loadConfig } from './config.js';
import { isMain } from './main.js';

const TIMEOUT_MS = 3000;

/** The port of this container's health endpoint: HEALTH_PORT when set (not 0), else PORT. */
export function healthcheckPort(env: NodeJS.ProcessEnv = process.env): number {
  const { port, healthPort } = loadConfig(env);
  return healthPort || port;
}

export async function healthcheck(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const url = `http://127.0.0.1:${healthcheckPort(env)}/health/live`;
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return answer.ok;
  } catch {
    // No answer is the verdict itself; the reason (refused, timed out) helps nobody in `docker ps`.
    return false;
  }
}

if (isMain(import.meta.url)) {
  healthcheck().then(
    (ok) => process.exit(ok ? 0 : 1),
    (err: unknown) => {
      process.stderr.write(`healthcheck: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
