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

/**
 * Sends a request that must be refused, and checks it wrote nothing: the refusal as
 * `expectRefusalNaming` wants it, and the rows of `tables` counted the same after it as before.
 * Returns the answer and the fields its errors name.
 */
export async function expectRefusedWritingNothing<T extends string>(
  pool: pg.Pool,
  tables: readonly T[],
  send: () => Promise<TestResponse>,
  fields: readonly string[],
  statuses: readonly number[] = [400],
): Promise<{ res: TestResponse; named: string[] }> {
  const before = await rowCounts(pool, tables);
  const res = await send();
  const named = expectRefusalNaming(res, fields, statuses);
  expect(await rowCounts(pool, tables)).to.deep.equal(before);
  return { res, named };
}

/**
 * The property of a body broken in any field: `send`ing it is refused (400) naming a broken field
 * and no field that was fine (a key the body lacks is named as required only when it was
 * removed), and nothing is written to `tables`.
 */
export async function assertBrokenBodiesRefused<T extends string, B>(
  pool: pg.Pool,
  tables: readonly T[],
  broken: fc.Arbitrary<{ body: B; wrong: string[] }>,
  send: (body: B) => Promise<TestResponse>,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(broken, async ({ body, wrong }) => {
      const { res, named } = await expectRefusedWritingNothing(
        pool,
        tables,
        () => send(body),
        wrong,
      );
      for (const field of named) expect(wrong, JSON.stringify(res.body)).to.include(field);
    }),
    neverHangs(200),
  );
}

/** The one form of id the service takes (lib/domain/ids.ts), written out again as the tests' oracle. */
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
 * A UUID from `uuids` spelt another way: the issue's three forms that joi's guid() takes and
 * Postgres's uuid refuses (22P02) — colon-separated, in brackets, in parentheses — more often than
 * the rest: other wrappers (`{}`, unmatched), dropped or other separators, hyphens after every
 * four digits (Postgres takes that), upper case, near misses (a trailing space, a digit short).
 * None is the canonical form.
 */
export const uuidLikeOf = (uuids: fc.Arbitrary<string>) =>
  fc
    .tuple(
      uuids,
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(['', ':', ''], ['[', '-', ']'], ['(', '-', ')']) },
        {
          weight: 2,
          arbitrary: fc.tuple(
            fc.constantFrom('{', '[', '(', ''),
            fc.constantFrom('-', ':', '', '_', ' '),
            fc.constantFrom('}', ']', ')', ''),
          ),
        },
      ),
      fc.boolean(),
      fc.constantFrom('plain', 'plain', 'mixed separators', 'hyphen every four', 'space', 'short'),
    )
    .map(([u, [open, sep, close], upper, twist]) => {
      const hex = upper ? u.toUpperCase() : u;
      const groups = hex.split('-');
      let body = groups.join(sep);
      if (twist === 'mixed separators')
        body = `${groups[0]}-${groups[1]}:${groups.slice(2).join('-')}`;
      if (twist === 'hyphen every four')
        body = hex.replaceAll('-', '').replace(/(.{4})(?!$)/g, '$1-');
      if (twist === 'space') body = `${body} `;
      if (twist === 'short') body = body.slice(0, -1);
      return `${open}${body}${close}`;
    })
    .filter((s) => !CANONICAL.test(s));

/** Any UUID spelt in a form that is not the canonical one (see uuidLikeOf). */
export const uuidLike = uuidLikeOf(fc.uuid());

/** Values a UUID field must refuse: UUID-like strings, other strings, every other JSON type. */
export const notAUuid = fc.oneof(
  fc.string({ maxLength: 60 }).filter((s) => !CANONICAL.test(s)),
  uuidLike,
  fc.uuid().map((u) => `${u}x`),
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
