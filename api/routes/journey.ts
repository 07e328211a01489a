import { Router } from 'express';
import Joi from 'joi';
import type { Db } from '../../db/client.js';
import {
  deadLettersOfOrder,
  inboxRowsOfOrder,
  outboxRowsOfOrder,
  webhookDeliveriesOfOrder,
} from '../../db/journey.js';
import { findOrderWithHistory } from '../../db/orders.js';
import { listOrdersWaitingTooLong } from '../../db/waiting-orders.js';
import { NotFoundError } from '../../lib/domain/errors.js';
import { isQueueName } from '../../db/outbox/events.js';
import { traceIdOf } from '../../lib/platform/trace-context.js';
import { outboxJobId } from '../../jobs/outbox/job-data.js';
import { queueFor, type ShardedQueues } from '../../jobs/outbox/queues.js';
import { ADMIN_PATH } from '../admin.js';
import { send } from '../envelope.js';
import { orderJson } from '../presenters.js';
import { orderIdParams } from '../schemas.js';
import { validate } from '../validate.js';
import { journeyHtml } from './journey-html.js';

/**
 * An order's journey for ops, in one answer: the order and its history, every outbox row (with its
 * BullMQ job's current state and each failed attempt's error), every inbox row, its dead letters,
 * each attempt to deliver its events to a webhook subscriber, its trace id. `GET /admin/orders/:id/journey` (JSON) and `GET /admin/orders/:id` (HTML, linking
 * to the jobs in Bull Board, and to the orders waiting too long for Shipping). Mounted under the
 * admin surface, behind its credentials.
 */
export async function loadJourney(db: Db, queues: ShardedQueues, id: string) {
  const found = await findOrderWithHistory(db, id);
  if (!found) throw new NotFoundError(`order ${id} not found`, 'id');
  const { order, history } = found;
  const [outboxRows, inboxRows, letters, deliveries] = await Promise.all([
    outboxRowsOfOrder(db, id),
    inboxRowsOfOrder(db, id),
    deadLettersOfOrder(db, id),
    webhookDeliveriesOfOrder(db, id),
  ]);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const outbox = await Promise.all(
    outboxRows.map(async (r) => {
      const jobId = outboxJobId(r.jobId);
      const queue = isQueueName(r.queue) ? queueFor(queues, r.queue, id) : undefined;
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
        // The BullMQ queue (the order's shard) is where Bull Board shows the job.
        job: {
          id: jobId,
          queue: queue?.name ?? r.queue,
          state,
          attempts_made: job?.attemptsMade ?? null,
        },
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
    webhook_deliveries: deliveries.map((d) => ({
      id: d.id,
      at: iso(d.createdAt),
      subscription_id: d.subscriptionId,
      webhook_id: d.messageId,
      event: d.eventType,
      attempt: d.attempt,
      outcome: d.outcome,
      status_code: d.statusCode,
      latency_ms: d.latencyMs,
      response_excerpt: d.responseExcerpt,
      error: d.error,
    })),
  };
}

export type Journey = Awaited<ReturnType<typeof loadJourney>>;

const waitingQuery = Joi.object<{ limit: number }, true>({
  limit: Joi.number().integer().min(1).max(500).default(100),
});

/**
 * `GET /admin/orders/waiting`: orders waiting on Shipping longer than SHIPPING_ANSWER_ALERT_AFTER_MS
 * (the orders_waiting_too_long gauge counts them), the longest first. Shipping can take days, so
 * nothing acts on them by itself: this is where ops start.
 */
async function waitingOrders(db: Db, olderThanMs: number, limit: number) {
  const rows = await listOrdersWaitingTooLong(db, { olderThanMs, limit });
  return {
    older_than_ms: olderThanMs,
    orders: rows.map((r) => ({
      id: r.id,
      user_id: r.userId,
      waiting_for: r.waitingFor,
      since: r.since.toISOString(),
      waited_ms: r.waitedMs,
      journey: `${ADMIN_PATH}/orders/${r.id}`,
    })),
  };
}

export function journeyRouter(
  db: Db,
  queues: ShardedQueues,
  boardPath: string,
  {
    shippingAnswerAlertAfterMs,
    traceUrlTemplate,
  }: { shippingAnswerAlertAfterMs: number; traceUrlTemplate?: string },
): Router {
  const router = Router();
  // Ahead of `/:id`, which would take `waiting` for an order id.
  router.get('/waiting', async (req, res) => {
    const { limit } = validate(waitingQuery, req.query, { convert: true });
    send(res, 200, await waitingOrders(db, shippingAnswerAlertAfterMs, limit));
  });
  router.get('/:id/journey', async (req, res) => {
    const { id } = validate(orderIdParams, req.params);
    send(res, 200, await loadJourney(db, queues, id));
  });
  router.get('/:id', async (req, res) => {
    const { id } = validate(orderIdParams, req.params);
    res
      .type('html')
      .send(journeyHtml(await loadJourney(db, queues, id), boardPath, { traceUrlTemplate }));
  });
  return router;
}
