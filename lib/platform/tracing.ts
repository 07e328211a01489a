/**
 * The tracing preload: `node --import ./dist/lib/platform/tracing.js dist/api/server.js` (the
 * Procfile, the Dockerfile and the npm scripts do this). It must run before any instrumented
 * module (http, express, pg, ioredis, kafkajs) is imported, which under ESM means a preload: the
 * import-in-the-middle hook is registered first, then the SDK starts and patches those modules as
 * they load. With no OTEL_* variable asking for traces it does nothing and loads nothing, so a
 * process without tracing runs exactly as before.
 */
import { register } from 'node:module';
import { tracingRequested } from './tracing-env.js';

if (tracingRequested(process.env)) {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const { startTracing } = await import('./tracing-sdk.js');
  startTracing();
}
