import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import Joi from 'joi';
import { createLogger, type Logger } from '../../lib/platform/logger.js';
import { isMain } from '../../lib/platform/main.js';
import {
  changeWaiters,
  envInteger,
  runUntilSignal,
  recordingJsonPeer,
  type RecordingJsonPeer,
  startJsonPeer,
  type PeerFault,
  sendJson,
  validBody,
} from './http-server.js';

/**
 * Development Notifications: a real HTTP server playing the Notifications service's contract.
 * `POST {any path}` `{message, idempotency_key, order_id?, user_id?, event?}` → 201 with the stored
 * notification; the same idempotency key again → 201 with the stored one (header
 * `idempotent-replayed: true`) and counted as a duplicate, so "the customer got one message" can be
 * checked. `GET /notifications` (or `/_recorded`, `?order_id=` to filter) shows what it recorded.
 */
export interface StoredNotification {
  id: string;
  message: string;
  idempotency_key: string;
  order_id: string | null;
  user_id: string | null;
  event: string | null;
  created_at: string;
}

export interface RecordedNotification extends StoredNotification {
  /** How many repeats of this idempotency key came after the first. */
  duplicates: number;
}

export interface NotificationsRecorded {
  notifications: RecordedNotification[];
  /** Repeats of a known idempotency key, all notifications together. */
  duplicates: number;
  /** Requests with a bad body (400). */
  invalid: number;
  /** Requests the peer failed to handle (500). */
  errors: number;
}

/** Answer POSTs with `status` instead of storing the notification, or after `delayMs`. */
export type NotificationsFault = PeerFault;

export interface NotificationsPeerOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue a bunyan logger named dev-notifications */
  logger?: Logger;
}

export type NotificationsPeer = RecordingJsonPeer<NotificationsRecorded>;

const optionalText = Joi.string().max(200).allow('', null);

const notificationSchema = Joi.object({
  message: Joi.string().min(1).max(10_000).required(),
  idempotency_key: Joi.string().min(1).max(200).required(),
  order_id: optionalText,
  user_id: optionalText,
  event: optionalText,
})
  .unknown(true)
  .required();

interface NotificationRequest {
  message: string;
  idempotency_key: string;
  order_id?: string | null;
  user_id?: string | null;
  event?: string | null;
}

export async function startNotificationsPeer({
  port = 0,
  logger = createLogger({ name: 'dev-notifications' }),
}: NotificationsPeerOptions = {}): Promise<NotificationsPeer> {
  const waiters = changeWaiters();
  const byKey = new Map<string, RecordedNotification>();
  const byOrder = new Map<string, RecordedNotification[]>();
  const counts = { duplicates: 0, invalid: 0, errors: 0 };

  function store(res: http.ServerResponse, json: unknown): void {
    const request = validBody<NotificationRequest>(res, notificationSchema, json, counts);
    if (!request) return;
    const known = byKey.get(request.idempotency_key);
    if (known) {
      known.duplicates++;
      counts.duplicates++;
      const { duplicates: _duplicates, ...stored } = known;
      sendJson(res, 201, stored, { 'idempotent-replayed': 'true' });
      return waiters.changed();
    }
    const stored: StoredNotification = {
      id: randomUUID(),
      message: request.message,
      idempotency_key: request.idempotency_key,
      order_id: request.order_id || null,
      user_id: request.user_id || null,
      event: request.event || null,
      created_at: new Date().toISOString(),
    };
    const record = { ...stored, duplicates: 0 };
    byKey.set(stored.idempotency_key, record);
    if (stored.order_id) {
      const list = byOrder.get(stored.order_id) ?? [];
      list.push(record);
      byOrder.set(stored.order_id, list);
    }
    sendJson(res, 201, stored);
    waiters.changed();
  }

  function recorded(filter: { order_id?: string } = {}): NotificationsRecorded {
    const source =
      filter.order_id === undefined ? [...byKey.values()] : (byOrder.get(filter.order_id) ?? []);
    return { notifications: source.map((n) => ({ ...n })), ...counts };
  }

  const peer = await startJsonPeer({
    name: 'notifications',
    listPaths: ['/notifications', '/_recorded'],
    port,
    logger,
    list: (orderId) => recorded({ order_id: orderId }),
    accept: store,
    onError: () => counts.errors++,
  });
  return recordingJsonPeer(peer, waiters, recorded, {
    async stop() {
      waiters.cancel('notifications peer stopped');
      await peer.server.stop();
    },
  });
}

/** The peer's options from the environment: NOTIFICATIONS_PORT (8003). */
export function notificationsOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): NotificationsPeerOptions {
  return { port: envInteger(env, 'NOTIFICATIONS_PORT', 8003, { max: 65535 }) };
}

if (isMain(import.meta.url)) {
  runUntilSignal(
    'development Notifications',
    () => startNotificationsPeer(notificationsOptionsFromEnv()),
    (peer) =>
      `development Notifications on ${peer.url} (GET /notifications lists what it recorded)`,
  );
}
