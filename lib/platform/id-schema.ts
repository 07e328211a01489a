import Joi from 'joi';
import { CANONICAL_UUID, CANONICAL_UUID_RULE } from '../domain/ids.js';

/**
 * The joi schema of an id, for the API's schemas and the Kafka parser alike. The rule itself is
 * lib/domain/ids.ts; this is its joi form, kept out of lib/domain, which imports no library.
 */
export const canonicalUuid = Joi.string()
  .pattern(CANONICAL_UUID)
  .messages({ 'string.pattern.base': `{{#label}} must be ${CANONICAL_UUID_RULE}` });
