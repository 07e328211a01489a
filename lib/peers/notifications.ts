import { callPeer, type PeerClientOptions } from './http.js';

/**
 * Notifications' contract: POST {message, idempotency_key} → 201; order_id, user_id and event
 * are extras it may use. The idempotency key is the outbox row's: stable across retries, so the
 * customer gets one message however often the call is repeated.
 */
export interface Notification {
  message: string;
  idempotency_key: string;
  order_id: string;
  user_id: string;
  event: string;
}

export interface NotificationsClientOptions {
  url: string;
  timeoutMs: number;
  token?: string;
}

export interface NotificationsClient {
  send(notification: Notification): Promise<void>;
}

export function createNotificationsClient(
  options: NotificationsClientOptions,
): NotificationsClient {
  const peer: PeerClientOptions = {
    peer: 'notifications',
    timeoutMs: options.timeoutMs,
    token: options.token,
  };
  return {
    async send(notification) {
      await callPeer(peer, { method: 'POST', url: options.url, body: notification });
    },
  };
}
