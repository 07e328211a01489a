import bunyan from 'bunyan';
import { Writable } from 'node:stream';
import { activeTraceId } from './trace-context.js';

export type Logger = bunyan;

const SECRET_KEY =
  /pass(word)?|secret|token|api[-_]?key|authorization|cookie|cert[-_]?key|private/i;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^:/?#@\s]*):([^@/?#\s]+)@/gi;
const WHSEC = /whsec_[A-Za-z0-9+/=]+/g;

/** Masks secrets in a log record: values under secret-looking keys, passwords inside URLs,
 * webhook secrets anywhere. Runs on every line, so it walks only plain objects and arrays. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.replace(URL_CREDENTIALS, '$1$2:***@').replace(WHSEC, 'whsec_***');
  }
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? '***' : redact(v, depth + 1);
  }
  return out;
}

/** A bunyan raw stream that redacts each record before writing it as one JSON line. */
class RedactingStream extends Writable {
  constructor(private readonly out: NodeJS.WritableStream) {
    super({ objectMode: true });
  }
  /**
   * bunyan calls write() synchronously in the logging call, so the active span here is the one the
   * line was written in (a buffered _write may run later, outside it).
   */
  override write(record: object, ...rest: never[]): boolean {
    const traceId = activeTraceId();
    return super.write(traceId ? { ...record, trace_id: traceId } : record, ...rest);
  }
  override _write(record: object, _enc: BufferEncoding, done: (err?: Error | null) => void) {
    this.out.write(`${JSON.stringify(redact(record))}\n`);
    done();
  }
}

export interface LoggerOptions {
  name?: string;
  level?: bunyan.LogLevel;
  /** Where JSON lines go; stdout by default (twelve-factor: the platform collects it). */
  out?: NodeJS.WritableStream;
}

export function createLogger({
  name = 'order-service',
  level = 'info',
  out = process.stdout,
}: LoggerOptions = {}): Logger {
  return bunyan.createLogger({
    name,
    level,
    serializers: { err: bunyan.stdSerializers.err },
    streams: [{ type: 'raw', level, stream: new RedactingStream(out) }],
  });
}

/** A logger that drops everything: for tests that do not look at logs. */
export function silentLogger(): Logger {
  return bunyan.createLogger({ name: 'silent', level: bunyan.FATAL + 1, streams: [] });
}
