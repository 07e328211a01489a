/**
 * Postgres text and jsonb cannot hold every JavaScript string: NUL (U+0000) is refused by both, and
 * jsonb refuses an unpaired surrogate (`"\ud800"`), which JSON.parse happily produces. Input
 * carrying either is refused up front, naming where it is, instead of failing as a 500 (HTTP) or
 * holding a partition (Kafka) when the row is written.
 */

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether Postgres can store `s` as text or inside jsonb. */
export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}

/**
 * The path (keys and indexes) of the first key or string in a JSON-like value that Postgres cannot
 * store: `[]` when it is the value itself, undefined when there is none.
 */
export function findUnstorableText(value: unknown, depth = 0): string[] | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : [];
  if (value === null || typeof value !== 'object' || depth > 32) return undefined;
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value);
  for (const [key, v] of entries) {
    if (!isStorableText(key)) return [key];
    const inner = findUnstorableText(v, depth + 1);
    if (inner !== undefined) return [key, ...inner];
  }
  return undefined;
}

/** `s` with what Postgres cannot store replaced by U+FFFD, for keeping a bad message as evidence. */
export function toStorableText(s: string): string {
  return s.replaceAll('\u0000', '\ufffd').replace(new RegExp(LONE_SURROGATE, 'g'), '\ufffd');
}
