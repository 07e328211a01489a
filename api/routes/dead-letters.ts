import { Router } from 'express';
import Joi from 'joi';
import type { Db } from '../../db/client.js';
import { listDeadLetters } from '../../db/dead-letters.js';
import { replayDeadLetter } from '../../lib/orders/replay-dead-letter.js';
import { send } from '../envelope.js';
import { validate } from '../validate.js';

const listQuery = Joi.object<{ include_replayed: boolean; limit: number }, true>({
  include_replayed: Joi.boolean().default(false),
  limit: Joi.number().integer().min(1).max(500).default(100),
});
const idParams = Joi.object<{ id: number }, true>({ id: Joi.number().integer().min(1).required() });
const replayBody = Joi.object<{ value?: string }, true>({
  value: Joi.string().max(1_000_000),
}).default({});

/**
 * Ops' view of shipping messages the consumer could not take in, and a way to send one back
 * (optionally corrected) after a fix. Mounted under the admin surface, behind its credentials.
 */
export function deadLettersRouter(db: Db): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const q = validate(listQuery, req.query, { convert: true });
    const rows = await listDeadLetters(db, { includeReplayed: q.include_replayed, limit: q.limit });
    send(
      res,
      200,
      rows.map((r) => ({
        id: r.id,
        topic: r.topic,
        partition: r.partition,
        offset: r.offset.toString(),
        key: r.key,
        value: r.value,
        reason: r.reason,
        created_at: r.createdAt.toISOString(),
        replayed_at: r.replayedAt?.toISOString() ?? null,
      })),
    );
  });
  router.post('/:id/replay', async (req, res) => {
    const { id } = validate(idParams, req.params, { convert: true });
    const body = validate(replayBody, req.body ?? {});
    const result = await replayDeadLetter(db, id, body.value);
    res.locals.log?.info({ dead_letter_id: id, outcome: result.outcome }, 'dead letter replayed');
    send(res, 200, result);
  });
  return router;
}
