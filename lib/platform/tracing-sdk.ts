import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { TRACING_SDK } from './trace-context.js';

/**
 * Starts the OpenTelemetry Node SDK. Exporter, endpoint, protocol, service name, sampler and batch
 * settings all come from the standard OTEL_* variables, which the SDK reads itself
 * (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_BSP_*). Only loaded by the preload (tracing.ts).
 */
export function startTracing(): void {
  const sdk = new NodeSDK({
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes every few seconds would bury the orders' traces.
        ignoreIncomingRequestHook: (req) =>
          (req.url ?? '').startsWith('/health') || (req.url ?? '').startsWith('/metrics'),
      }),
      new ExpressInstrumentation(),
      // Queries and Redis commands outside any span are the relay's poll, BullMQ's own fetching
      // and the gauges' scrapes: noise without an order to belong to.
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new KafkaJsInstrumentation(),
    ],
  });
  sdk.start();
  // The process runner flushes and stops it on shutdown (trace-context.ts shutdownTracing).
  (globalThis as Record<symbol, unknown>)[TRACING_SDK] = sdk;
}
