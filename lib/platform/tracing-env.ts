/**
 * Whether the standard OTEL_* variables ask for traces. Tracing is off unless they do, and when it
 * is off no OpenTelemetry SDK is loaded at all (see tracing.ts). These are not declared in
 * lib/platform/config/: they are the OpenTelemetry SDK's own variables, read by the SDK itself.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporters === 'none') return false;
  return (
    exporters !== '' ||
    Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT) ||
    Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  );
}
