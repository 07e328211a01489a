import type Joi from 'joi';
import { ValidationError } from '../lib/domain/errors.js';

/**
 * Validates with a joi schema and returns the typed value, or throws a ValidationError naming every
 * bad field. Bodies are not type-converted ("2" is not a quantity); query strings are.
 */
export function validate<T>(schema: Joi.Schema, input: unknown, { convert = false } = {}): T {
  const { error, value } = schema.validate(input, {
    abortEarly: false,
    convert,
    errors: { wrap: { label: false } },
  });
  if (error) {
    throw new ValidationError(
      error.details.map((d) => {
        const field = d.path.length ? d.path.join('.') : 'body';
        // With label wrapping off, joi's message already starts with the field's path.
        return { field, message: d.message };
      }),
    );
  }
  return value as T;
}
