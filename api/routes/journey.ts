import { Router } from 'express';
import type { Db } from '../../db/client.js';
import { deadLettersOfOrder, inboxRowsOfOrder, outboxRowsOfOrder } from '../../db/journey.js';
import { findOrderById, orderHistory } from '../../db/orders.js';
import { NotFoundError } from '../../lib/domain/errors.js';
import { isQueueName } from '../../lib/domain/outbox-events.js';
import { traceIdOf } from '../../lib/platform/trace-context.js';
import { outboxJobId } from '../../jobs/job-data.js';
import type { Queues } from '../../jobs/queues.js';
import { send } from '../envelope.js';
import { orderJson } from '../presenters.js';
import { orderIdParams } from '../schemas.js';
import { validate } from '../validate.js';
import { journeyHtml } from './journey-html.js';

/**
 * An order's journey for ops, in one answer: the order and its history, every outbox row (with its
 * BullMQ job's current state and each failed attempt's error), every inbox row, its dead letters,
 * its trace id. `GET /admin/orders/:id/journey` (JSON) and `GET /admin/orders/:id` (HTML, linking
 * to the jobs in Bull Board). Mounted under the admin surface, behind its credentials.
 */
export async function loadJourney(db: Db, queues: Queues, id: string) {
  const order = await findOrderById(db, id);
  if (!order) throw new NotFoundError(`order ${id} not found`, 'id');
  const [history, outboxRows, inboxRows, letters] = await Promise.all([
    orderHistory(db, id),
    outboxRowsOfOrder(db, id),
    inboxRowsOfOrder(db, id),
    deadLettersOfOrder(db, id),
  ]);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const outbox = await Promise.all(
    outboxRows.map(async (r) => {
      const jobId = outboxJobId(r.jobId);
      const queue = isQueueName(r.queue) ? queues[r.queue] : undefined;
      // Redis may be down or the job long removed: the row's own record still answers.
      const job = await queue?.getJob(jobId).catch(() => undefined);
      const state = job ? await job.getState().catch(() => 'unknown') : 'not in Redis';
      return {
        id: r.id,
        queue: r.queue,
        event: r.eventType,
        created_at: iso(r.createdAt),
        dispatched_at: iso(r.dispatchedAt),
        completed_at: iso(r.completedAt),
        failed_at: iso(r.failedAt),
        attempts: r.attempts,
        last_error: r.lastError,
        failed_attempts: r.attemptErrors,
        job: { id: jobId, state, attempts_made: job?.attemptsMade ?? null },
      };
    }),
  );
  return {
    order: orderJson(order, history),
    trace_id: traceIdOf(order.traceparent) ?? null,
    outbox,
    inbox: inboxRows.map((r) => ({
      id: r.id,
      source: r.source,
      key: r.messageKey,
      event: r.eventType,
      received_at: iso(r.createdAt),
      processed_at: iso(r.processedAt),
      outcome: r.result,
    })),
    dead_letters: letters.map((l) => ({
      id: l.id,
      topic: l.topic,
      partition: l.partition,
      offset: l.offset.toString(),
      reason: l.reason,
      created_at: iso(l.createdAt),
      replayed_at: iso(l.replayedAt),
    })),
  };
}

export type Journey = Awaited<ReturnType<typeof loadJourney>>;

export function journeyRouter(db: Db, queues: Queues, boardPath: string): Router {
  const router = Router();
  router.get('/:id/journey', async (req, res) => {
    const { id } = validate(orderIdParams, req.params);
    send(res, 200, await loadJourney(db, queues, id));
  });
  router.get('/:id', async (req, res) => {
    const { id } = validate(orderIdParams, req.params);
    res.type('html').send(journeyHtml(await loadJourney(db, queues, id), boardPath));
  });
  return router;
}
