import type Joi from 'joi';
import { ValidationError, type FieldProblem } from '../lib/domain/errors.js';
import { findUnstorableText } from '../lib/domain/storable-text.js';

/**
 * The value a request schema validates to: the T of `Joi.object<T, true>(...)`. Strict mode makes
 * the compiler hold each key of T against the schema's keys, so the type is stated once, at the
 * schema, and a route cannot name another. A schema declared without T would give `any`; it gives
 * `never` instead, so using its fields fails to compile until the schema states its type.
 */
export type Validated<S> =
  S extends Joi.ObjectSchema<infer T> ? (0 extends 1 & T ? never : T) : never;

/**
 * Validates with a joi schema and returns the typed value, or throws a ValidationError naming every
 * bad field. Bodies are not type-converted ("2" is not a quantity); query strings are.
 */
export function validate<S extends Joi.ObjectSchema>(
  schema: S,
  input: unknown,
  { convert = false } = {},
): Validated<S> {
  // JSON.parse makes `"__proto__"` an own key, which joi drops without a word (its clone would
  // otherwise set a prototype): refuse it by name like any other key the API does not know.
  if (input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
    throw new ValidationError([{ field: '__proto__', message: '__proto__ is not allowed' }]);
  }
  const problems: FieldProblem[] = [];
  const unstorable = findUnstorableText(input);
  if (unstorable !== undefined) {
    const field = unstorable.length ? unstorable.join('.') : 'body';
    problems.push({
      field,
      message: `${field} contains NUL or an unpaired surrogate, which cannot be stored`,
    });
  }
  const { error, value } = schema.validate(input, {
    abortEarly: false,
    convert,
    errors: { wrap: { label: false } },
  });
  for (const d of error?.details ?? []) {
    // With label wrapping off, joi's message already starts with the field's path.
    problems.push({ field: d.path.length ? d.path.join('.') : 'body', message: d.message });
  }
  if (problems.length) throw new ValidationError(problems);
  return value as Validated<S>;
}
