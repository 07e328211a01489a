import type { Db } from '../../db/client.js';
import { applyInboxEvent } from '../../lib/orders/apply-inbox-event.js';
import type { OutboxProcessor } from '../outbox/run-job.js';

/**
 * Applies one inbound event through the use case. The use case completes this job's outbox row
 * in its own transaction (completesRow), so a second run of the same job changes nothing; it
 * reads that row in the round trip that takes its locks (checksRow), and hands it to the runner
 * when there is nothing to do: the runner then skips the job, or refuses another row's.
 * A refusal is an outcome, not an error: recorded on the inbox row, logged, never retried.
 */
export function inboxProcessor(db: Db): OutboxProcessor<'inbox'> {
  return {
    queue: 'inbox',
    completesRow: true,
    checksRow: true,
    async handle({ data, payload, log }) {
      const result = await applyInboxEvent(db, {
        inboxId: payload.inbox_id,
        outbox: { id: data.outboxId, jobId: data.jobId },
      });
      if (result.outcome === 'job-row-not-open') return { rowNotOpen: result.jobRow };
      const fields = { inbox_id: payload.inbox_id, outcome: result.outcome };
      switch (result.outcome) {
        case 'applied':
          log.info({ ...fields, from: result.from, to: result.to }, 'inbox event applied');
          break;
        case 'refused':
          if (result.kind === 'duplicate')
            log.info({ ...fields, reason: result.reason }, 'inbox event refused');
          else log.warn({ ...fields, reason: result.reason }, 'inbox event refused');
          break;
        case 'already-processed':
          log.info({ ...fields, result: result.result }, 'inbox event already processed');
          break;
        case 'missing':
          log.warn(fields, 'inbox row not found; nothing to apply');
          break;
      }
    },
  };
}
