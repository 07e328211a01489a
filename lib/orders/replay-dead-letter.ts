import type { Db } from '../../db/client.js';
import { findDeadLetter, markDeadLetterReplayed } from '../../db/dead-letters.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import { classifyFailure, incurableReason, programmingErrorIn } from '../platform/retry.js';
import { recordShippingResponse } from './record-shipping-result.js';

export interface ReplayResult {
  id: number;
  outcome: 'recorded' | 'duplicate' | 'skipped';
}

/**
 * Sends a dead-lettered shipping message back through intake after a fix: the same code path as
 * the consumer, with the stored value or, when ops corrected it, a replacement. It is marked
 * replayed only when intake accepted it; a message that is still unusable stays a dead letter.
 */
export async function replayDeadLetter(
  db: Db,
  id: number,
  replacementValue?: string,
): Promise<ReplayResult> {
  const letter = await findDeadLetter(db, id);
  if (!letter) throw new NotFoundError(`dead letter ${id} does not exist`, 'id');
  if (letter.replayedAt) throw new ConflictError(`dead letter ${id} was already replayed`, 'id');
  const applied = await recordShippingResponse(db, replacementValue ?? letter.value).catch(
    (err: unknown) => {
      // Data Postgres refuses is the message's own fault, as for the consumer; a bug stays a 500.
      if (classifyFailure(err) !== 'incurable' || programmingErrorIn(err)) throw err;
      return { outcome: 'rejected' as const, reason: incurableReason(err) };
    },
  );
  if (applied.outcome === 'rejected') {
    throw new ConflictError(
      `dead letter ${id} is still unusable: ${applied.reason}`,
      replacementValue ? 'value' : 'id',
    );
  }
  await markDeadLetterReplayed(db, id);
  return { id, outcome: applied.outcome };
}
