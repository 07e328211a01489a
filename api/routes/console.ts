import { Router, type RequestHandler, type Response } from 'express';
import Joi from 'joi';
import type { Db } from '../../db/client.js';
import { ordersByStatusRecently, throughputPerMinute } from '../../db/order-activity.js';
import { listOrdersWaitingTooLong } from '../../db/waiting-orders.js';
import { ConflictError, TooManyRequestsError } from '../../lib/domain/errors.js';
import type { PartitionLag } from '../../lib/kafka/consumer-lag.js';
import type { Logger } from '../../lib/platform/logger.js';
import { withinMs } from '../../lib/platform/timeout.js';
import { readGauge, type GaugeReading, type Metrics } from '../../lib/platform/metrics.js';
import type { ShardedQueues } from '../../jobs/outbox/queues.js';
import { adminUserOf } from '../admin.js';
import { adminPageContentSecurityPolicy } from '../admin-csp.js';
import { send } from '../envelope.js';
import {
  deadLetterGroups,
  failedJobGroups,
  replayDeadLetterGroup,
  retryFailedJobGroup,
} from '../failure-groups.js';
import { validate } from '../validate.js';
import { CONSOLE_SCRIPT, overviewHtml } from './console-html.js';

/**
 * The ops console: the overview page (`GET /admin`), its figures as JSON (`GET
 * /admin/overview.json`), failures grouped by cause (`GET /admin/failures`) and the two group
 * actions (`POST /admin/failures/jobs/retry`, `POST /admin/failures/dead-letters/replay`).
 * Mounted at the admin surface's root, behind its guard. Every figure that has a Prometheus gauge
 * is read through that gauge's own collector (readGauge), so page and metrics agree.
 */
export interface ConsoleDeps {
  db: Db;
  queues: ShardedQueues;
  /** The process's metrics: the gauges the overview reads. Absent, those figures say so. */
  metrics?: Metrics;
  /** The shipping consumer group's lag (lib/kafka/consumer-lag.ts); absent without Kafka. */
  consumerLag?: () => Promise<PartitionLag[]>;
  shippingAnswerAlertAfterMs: number;
  /** ADMIN_GROUP_RETRY_INTERVAL_MS: least time between two group actions of this process. */
  groupActionIntervalMs: number;
  boardPath: string;
  logger: Logger;
}

/** Orders waiting too long listed on the overview (the full list is /admin/orders/waiting). */
const WAITING_SHOWN = 20;
/** A figure that takes longer than this shows as unavailable rather than hold the page. */
const FIGURE_TIMEOUT_MS = 3000;

/** A figure, or why it is missing: one unreachable store must not blank the whole page. */
export type Figure<T> = { ok: true; value: T } | { ok: false; reason: string };

async function figure<T>(name: string, log: Logger, read: () => Promise<T>): Promise<Figure<T>> {
  try {
    const value = await withinMs(read(), FIGURE_TIMEOUT_MS, () => {
      throw new Error(`no answer in ${FIGURE_TIMEOUT_MS} ms`);
    });
    return { ok: true, value };
  } catch (err) {
    // The page says only that it is missing: an error text can carry a host or a credential.
    log.warn({ err, figure: name }, 'console: figure unavailable');
    return { ok: false, reason: 'unavailable (see the web log)' };
  }
}

async function gauge(metrics: Metrics | undefined, name: string): Promise<GaugeReading[]> {
  const readings = metrics && (await readGauge(metrics, name));
  if (!readings) throw new Error(`this process has no gauge ${name}`);
  return readings;
}

export async function loadOverview(deps: ConsoleDeps, log: Logger) {
  const { db, metrics } = deps;
  const [
    ordersByStatus,
    throughput,
    outboxLag,
    oldestOpen,
    queueJobs,
    consumerLag,
    waitingCounts,
    waitingOrders,
    deadLetterCount,
    jobGroups,
    letterGroups,
  ] = await Promise.all([
    figure('orders by status', log, () => ordersByStatusRecently(db)),
    figure('throughput', log, () => throughputPerMinute(db)),
    figure('outbox_lag_seconds', log, () => gauge(metrics, 'outbox_lag_seconds')),
    figure('outbox_oldest_open_seconds', log, () => gauge(metrics, 'outbox_oldest_open_seconds')),
    figure('queue_jobs', log, () => gauge(metrics, 'queue_jobs')),
    deps.consumerLag
      ? figure('consumer lag', log, deps.consumerLag)
      : ({ ok: false, reason: 'no Kafka configured for the web process' } as const),
    figure('orders_waiting_too_long', log, () => gauge(metrics, 'orders_waiting_too_long')),
    figure('orders waiting list', log, () =>
      listOrdersWaitingTooLong(db, {
        olderThanMs: deps.shippingAnswerAlertAfterMs,
        limit: WAITING_SHOWN,
      }),
    ),
    figure('dead_letters', log, () => gauge(metrics, 'dead_letters')),
    figure('failed job groups', log, () => failedJobGroups(deps.queues)),
    figure('dead letter groups', log, () => deadLetterGroups(db)),
  ]);
  return {
    generated_at: new Date().toISOString(),
    shipping_answer_alert_after_ms: deps.shippingAnswerAlertAfterMs,
    orders_by_status: ordersByStatus,
    throughput,
    outbox_lag_seconds: outboxLag,
    outbox_oldest_open_seconds: oldestOpen,
    queue_jobs: queueJobs,
    consumer_lag: consumerLag,
    orders_waiting_too_long: waitingCounts,
    waiting_orders: waitingOrders,
    dead_letters: deadLetterCount,
    failed_job_groups: jobGroups,
    dead_letter_groups: letterGroups,
  };
}

export type Overview = Awaited<ReturnType<typeof loadOverview>>;

const groupActionBody = Joi.object<{ group: string; count: number }, true>({
  group: Joi.string()
    .pattern(/^[A-Za-z0-9_-]{16}$/)
    .required(),
  // The count the admin saw and confirmed: the action runs only while the group still has it.
  count: Joi.number().integer().min(1).required(),
});

/**
 * One group action per interval per process: a group can hold thousands of jobs, and a retry
 * storm against a peer just back up is what ops least want. The slot is handed back when the
 * action is refused (409), since nothing was done.
 */
function groupActionLimiter(intervalMs: number) {
  let lastAt = -Infinity;
  return (res: Response) => {
    const waitMs = lastAt + intervalMs - Date.now();
    if (waitMs > 0) {
      res.set('Retry-After', String(Math.ceil(waitMs / 1000)));
      throw new TooManyRequestsError(
        `one group action per ${intervalMs} ms; try again in ${Math.ceil(waitMs / 1000)} s`,
        'group',
      );
    }
    const previous = lastAt;
    lastAt = Date.now();
    return () => {
      lastAt = previous;
    };
  };
}

/** A refused confirmation did nothing, so its slot goes back; a failure midway keeps it. */
const refused =
  (release: () => void) =>
  (err: unknown): never => {
    if (err instanceof ConflictError) release();
    throw err;
  };

/**
 * The overview page's CSP (api/admin-csp.ts) as it is: its one script is a same-origin file, its
 * styles are its own inline sheet and swatches, and it loads no fonts.
 */
export const consoleContentSecurityPolicy: RequestHandler = adminPageContentSecurityPolicy();

export function consoleRouter(deps: ConsoleDeps): Router {
  const router = Router();
  const takeSlot = groupActionLimiter(deps.groupActionIntervalMs);
  const logOf = (res: Response) => (res.locals.log as Logger | undefined) ?? deps.logger;

  router.get('/', consoleContentSecurityPolicy, async (_req, res) => {
    const overview = await loadOverview(deps, logOf(res));
    res.type('html').send(overviewHtml(overview, deps.boardPath));
  });
  router.get('/overview.json', async (_req, res) => {
    send(res, 200, await loadOverview(deps, logOf(res)));
  });
  router.get('/console.js', (_req, res) => {
    res.type('text/javascript').set('Cache-Control', 'no-cache').send(CONSOLE_SCRIPT);
  });
  router.get('/failures', async (_req, res) => {
    const [jobs, deadLetters] = await Promise.all([
      failedJobGroups(deps.queues),
      deadLetterGroups(deps.db),
    ]);
    send(res, 200, { jobs, dead_letters: deadLetters });
  });
  router.post('/failures/jobs/retry', async (req, res) => {
    const { group, count } = validate(groupActionBody, req.body ?? {});
    const release = takeSlot(res);
    const result = await retryFailedJobGroup(deps.queues, group, count).catch(refused(release));
    logOf(res).info(
      { audit: 'failed_job_group_retry', admin_user: adminUserOf(req), ...result },
      'admin: failed-job group retried',
    );
    send(res, 200, result);
  });
  router.post('/failures/dead-letters/replay', async (req, res) => {
    const { group, count } = validate(groupActionBody, req.body ?? {});
    const release = takeSlot(res);
    const result = await replayDeadLetterGroup(deps.db, group, count).catch(refused(release));
    logOf(res).info(
      {
        audit: 'dead_letter_group_replay',
        admin_user: adminUserOf(req),
        key: result.key,
        cause: result.cause,
        confirmed: result.confirmed,
        replayed: result.replayed,
        refused: result.refused.length,
      },
      'admin: dead-letter group replayed',
    );
    send(res, 200, result);
  });
  return router;
}
