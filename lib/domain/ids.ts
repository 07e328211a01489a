/**
 * The one rule for every id the service takes in (path, body, query, Kafka message): a UUID in
 * its canonical form, 32 hex digits grouped 8-4-4-4-12 by hyphens, any case, any version.
 *
 * joi's guid() is not that rule: it also takes `:` separators and `{}`, `[]`, `()` wrappers, some of
 * which Postgres's `uuid` type refuses (SQLSTATE 22P02), so such an id passed validation and then
 * failed in the database (a 500, or a Kafka message retried for ever). Postgres in turn takes
 * spellings that are not canonical (no hyphens, braces): one form, checked before anything is
 * written, keeps the two from disagreeing and every stored id comparable as text.
 *
 * Written without the `i` flag: the OpenAPI document carries the pattern as text, flags lost.
 */
export const CANONICAL_UUID =
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const CANONICAL_UUID_RULE = 'a UUID in the canonical 8-4-4-4-12 hex form';

export function isCanonicalUuid(value: unknown): value is string {
  return typeof value === 'string' && CANONICAL_UUID.test(value);
}

/**
 * The smallest UUIDv7 of a millisecond: every order id made at or after `ms` sorts at or above it,
 * so "orders since" is a range of the primary key rather than a scan of created_at.
 */
export function uuidv7LowerBound(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
