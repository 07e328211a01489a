import { BullMQOtel } from 'bullmq-otel';
import type { JobsOptions } from 'bullmq';
import { tracingRequested } from '../lib/platform/tracing-env.js';

/**
 * BullMQ's own OpenTelemetry support (bullmq-otel), given to every Queue and Worker when the OTEL_*
 * variables ask for traces, and undefined otherwise so BullMQ runs without it. With it, adding and
 * processing a job are spans, and a job carries its producer's context to the worker.
 */
let telemetry: BullMQOtel | undefined | null = null;
export function bullmqTelemetry(env: NodeJS.ProcessEnv = process.env): BullMQOtel | undefined {
  if (telemetry === null) {
    telemetry = tracingRequested(env) ? new BullMQOtel('order-service') : undefined;
  }
  return telemetry;
}

/**
 * A job's parent context, in the form bullmq-otel stores on a job (its propagation carrier as
 * JSON): the outbox row's traceparent, so the job continues the trace of the transaction that
 * wrote the row, not the relay's.
 */
export function jobTelemetryOf(traceparent: string | null): Pick<JobsOptions, 'telemetry'> {
  return traceparent ? { telemetry: { metadata: JSON.stringify({ traceparent }) } } : {};
}
