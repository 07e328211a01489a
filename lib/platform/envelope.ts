/** One entry of a response's `errors`: what went wrong, and the field to blame when there is one. */
export interface ErrorItem {
  code: string;
  field: string | null;
  message: string;
}

/**
 * Every JSON answer of every process (the API, and the worker's and consumer's health port) is
 * `{data, meta, errors}`, as the original service answered; this is the one place that shape is
 * built. Here rather than in api/ because jobs/ answers with it too.
 */
export interface Envelope<D> {
  data: D;
  meta: Record<string, unknown>;
  errors: ErrorItem[];
}

export function envelope<D>(
  data: D,
  meta: Record<string, unknown> = {},
  errors: ErrorItem[] = [],
): Envelope<D> {
  return { data, meta, errors };
}
