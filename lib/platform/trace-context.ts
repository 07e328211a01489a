import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Span,
} from '@opentelemetry/api';

/**
 * Trace context where the service stores or joins it by hand: the outbox row's `traceparent`, and
 * inbound events (payment callbacks, shipping responses) that arrive without the order's context.
 * Only @opentelemetry/api, which is a no-op without an SDK: every function here returns at once
 * when no span is recording, so with tracing off they cost a property read.
 */

/** Where the preload leaves the SDK so that shutdown can flush it. */
export const TRACING_SDK = Symbol.for('order-service.tracing-sdk');

function recordingSpan(): Span | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span : undefined;
}

/** The active context as a W3C `traceparent`, or null when nothing is being traced. */
export function currentTraceparent(): string | null {
  if (!recordingSpan()) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id inside a traceparent; undefined for null or a malformed value. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

/** The active span's trace id, for log lines; undefined outside a recording span. */
export function activeTraceId(): string | undefined {
  return recordingSpan()?.spanContext().traceId;
}

/**
 * Runs `fn` inside the order's trace. An inbound event whose sender did not propagate the order's
 * context (a Payments or Shipping service without tracing) starts a trace of its own; then a span
 * `name` is opened as a child of the order's stored context, linked to the span that received the
 * event, and `fn` runs in it, so what `fn` writes (outbox rows, their traceparent) continues the
 * order's trace. `orderTraceparent` is only asked for when tracing is on and is looked up lazily,
 * so with tracing off this costs no query.
 */
export async function withinOrderTrace<T>(
  name: string,
  orderTraceparent: () => Promise<string | null | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const active = recordingSpan();
  if (!active) return fn();
  const stored = await orderTraceparent();
  const storedTraceId = traceIdOf(stored);
  if (!stored || !storedTraceId || storedTraceId === active.spanContext().traceId) return fn();
  const parent = propagation.extract(ROOT_CONTEXT, { traceparent: stored });
  const tracer = trace.getTracer('order-service');
  return tracer.startActiveSpan(
    name,
    { links: [{ context: active.spanContext() }] },
    parent,
    async (span) => {
      try {
        return await fn();
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** Flushes and stops the SDK when the preload started one; otherwise nothing. */
export async function shutdownTracing(): Promise<void> {
  const sdk = (globalThis as Record<symbol, { shutdown(): Promise<void> } | undefined>)[
    TRACING_SDK
  ];
  await sdk?.shutdown();
}
