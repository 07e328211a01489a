import { expect } from 'chai';
import fc from 'fast-check';
import type pg from 'pg';
import type { TestResponse } from './api.js';

/**
 * Shared pieces of the property tests (test/property): row counts to show a refused request wrote
 * nothing, the refusal's shape, and generators of values that are never valid for a field.
 */

/** Rows in each table, to compare before and after a request. */
export async function rowCounts<T extends string>(
  pool: pg.Pool,
  tables: readonly T[],
): Promise<Record<T, number>> {
  const sql = `select ${tables.map((t) => `(select count(*) from ${t})::int as "${t}"`).join(', ')}`;
  const { rows } = await pool.query<Record<T, number>>(sql);
  return rows[0]!;
}

/**
 * A refusal as every route gives it: a 4xx (never a 5xx) in the envelope, each error with a code
 * and a message, and at least one naming a field of `fields`. Returns the fields named.
 */
export function expectRefusalNaming(
  res: TestResponse,
  fields: readonly string[],
  statuses: readonly number[] = [400],
): string[] {
  const what = `${res.status} ${JSON.stringify(res.body)}`;
  expect(statuses, what).to.include(res.status);
  expect(res.body, what).to.be.an('object');
  expect(res.body, what).to.have.keys('data', 'meta', 'errors');
  expect(res.body.data, what).to.equal(null);
  expect(res.body.errors, what).to.be.an('array').that.is.not.empty;
  const named: string[] = [];
  for (const e of res.body.errors as { code: unknown; field: unknown; message: unknown }[]) {
    expect(e.code, what).to.be.a('string').that.is.not.empty;
    expect(e.message, what).to.be.a('string').that.is.not.empty;
    if (typeof e.field === 'string') named.push(e.field);
  }
  expect(
    named.some((f) => fields.includes(f)),
    `an error naming one of ${fields.join(', ')}: ${what}`,
  ).to.equal(true);
  return named;
}

const UUID = /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i;

/** Any JSON value that is not a string. */
export const nonString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue(), { maxKeys: 3 }),
);

/**
 * Values a UUID field must refuse: strings that are not UUIDs, and every other JSON type. (joi's
 * guid() also takes a UUID without hyphens or in braces, and so does Postgres: those are valid.)
 */
export const notAUuid = fc.oneof(
  fc.string({ maxLength: 60 }).filter((s) => !UUID.test(s)),
  fc.uuid().map((u) => `${u}x`),
  fc.uuid().map((u) => u.slice(0, 35)),
  nonString,
);

const char = (min: number, max: number) =>
  fc.integer({ min, max }).map((c) => String.fromCharCode(c));

/** Text that may hold anything JSON can carry: NUL and control characters, lone surrogates,
 * characters beyond the BMP, plain ASCII. */
export const anyText = (maxLength = 40) =>
  fc.string({
    unit: fc.oneof(
      char(0x00, 0x1f),
      char(0x20, 0x7e),
      char(0xd800, 0xdfff),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
    maxLength,
  });

/**
 * Whether Postgres can keep `s` (no NUL, no unpaired surrogate): the tests' own oracle, through
 * the engine's String.prototype.isWellFormed (ES2024; the compiler's lib stops at ES2023).
 */
export const storable = (s: string): boolean =>
  !s.includes('\u0000') && (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * fast-check parameters of the properties that talk to the service: a run (one request and its
 * checks) still going after `timeoutMs` fails, its input reported as the counterexample, which is
 * how "never a hang" is asserted.
 */
export const neverHangs = (numRuns: number, timeoutMs = 10_000) => ({
  numRuns,
  plugins: [fc.timeout(timeoutMs)],
});
