import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { envelope } from './envelope.js';
import { readinessAnswer, runChecks, type ReadinessChecks } from './health.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * The worker's and consumer's small HTTP port (HEALTH_PORT): `/health/live`, `/health/ready`
 * (503 naming what is down) and `/metrics`. Plain node:http: these processes serve nothing else.
 */
export interface HealthServer {
  port: number;
  stop(): Promise<void>;
}

export async function startHealthServer({
  port,
  checks,
  metrics,
  logger,
}: {
  port: number;
  checks: ReadinessChecks;
  metrics?: Metrics;
  logger: Logger;
}): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health/live') return reply(200, JSON.stringify(envelope({ status: 'ok' })));
    if (path === '/health/ready') {
      void runChecks(checks, logger).then((report) => {
        const { status, data, errors } = readinessAnswer(report);
        reply(status, JSON.stringify(envelope(data, {}, errors)));
      });
      return;
    }
    if (path === '/metrics' && metrics) {
      metrics.registry.metrics().then(
        (text) => reply(200, text, metrics.registry.contentType),
        (err: unknown) => {
          logger.error({ err }, 'metrics collection failed');
          reply(500, 'metrics collection failed\n', 'text/plain');
        },
      );
      return;
    }
    reply(
      404,
      JSON.stringify(
        envelope(null, {}, [{ code: 'not_found', field: null, message: 'not found' }]),
      ),
    );
  });
  server.listen(port);
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  logger.info({ port: bound }, 'health server listening');
  return {
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
