import type Joi from 'joi';
import { PeerContractError } from '../domain/errors.js';
import { findUnstorableText } from '../domain/storable-text.js';

/**
 * How a peer's answer is taken in, the way api/validate.ts takes in a request: one joi schema per
 * answer, kept beside its peer's client (lib/peers/catalog.ts, lib/peers/payments.ts), checked
 * here. Anything the schema does not promise makes the answer unusable: PeerContractError, which
 * the API answers 502 and a job retries. Types are taken as sent (no conversion: `"10"` is not a
 * quantity); fields the schema does not name are tolerated, so a peer can grow, and dropped, so
 * nothing unchecked reaches the database.
 */
export function usableAnswer<T>(
  peer: string,
  what: string,
  schema: Joi.Schema<T>,
  body: unknown,
): T {
  const { error, value } = schema.validate(body, {
    convert: false,
    allowUnknown: true,
    stripUnknown: { objects: true, arrays: false },
  });
  if (error) throw new PeerContractError(peer, `${what} unusable: ${error.message}`);
  // NUL or a lone surrogate would pass joi and then fail the insert: a 500, or a job's bug verdict.
  const unstorable = findUnstorableText(value);
  if (unstorable !== undefined) {
    throw new PeerContractError(
      peer,
      `${what} unusable: ${unstorable.join('.') || 'the body'} holds text Postgres cannot store`,
    );
  }
  return value as T;
}

/** Two ids name the same thing: canonical UUIDs compare without regard to case. */
export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
