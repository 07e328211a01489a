import type http from 'node:http';
import Joi from 'joi';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { createLogger, type Logger } from '../../lib/platform/logger.js';
import { isMain } from '../../lib/platform/main.js';
import {
  changeWaiters,
  envInteger,
  PeerConfigError,
  recordingJsonPeer,
  type RecordingJsonPeer,
  runUntilSignal,
  sendJson,
  startJsonPeer,
  type PeerFault,
  validBody,
} from './http-server.js';

/**
 * Development webhook receiver: a real HTTP server playing a client system subscribed to the
 * service's order webhooks (docs/webhooks.md), as a receiver should be written. `POST {any path}`
 * is one delivery: verified with `standardwebhooks` over the exact body and the `webhook-*`
 * headers, then 204 (a webhook-id it already took is a duplicate: 204 again, acted on once) or 401
 * (no secret yet, or the signature does not hold). It prints one line per delivery and keeps them
 * all: `GET /webhooks` (or `/_recorded`, `?order_id=` to filter).
 *
 * Its secret comes from the subscription API's answer, after it started: `setSecrets()` in
 * process, or `POST /_secret` `{secret}` or `{secrets: [...]}` (several: any one verifies, as
 * while a rotation is under way).
 */
export interface ReceivedWebhook {
  /** The `webhook-id` header (null when missing). */
  webhook_id: string | null;
  /** The payload's `type` (order.paid, …), read even from a delivery that did not verify. */
  event: string | null;
  /** The payload's `data.id`. */
  order_id: string | null;
  verified: boolean;
  /** Why it was refused (401); null when verified. */
  rejection: string | null;
  /** A verified repeat of a webhook-id already taken: answered 204, not acted on again. */
  duplicate: boolean;
  /** What it answered. */
  status: number;
  received_at: string;
  /** The payload as sent (parsed JSON; the text when it is not JSON). */
  payload: unknown;
}

export interface WebhookReceiverRecorded {
  /** Every delivery, in arrival order. */
  deliveries: ReceivedWebhook[];
  /** Verified repeats of a webhook-id already taken. */
  duplicates: number;
  /** Deliveries answered 401. */
  rejected: number;
  /** Requests the receiver failed to handle (500). */
  errors: number;
}

export interface WebhookReceiverOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** The subscription's secret(s), when known at start; otherwise set later. */
  secrets?: string[];
  /** @defaultValue a bunyan logger named dev-webhook-receiver */
  logger?: Logger;
}

export interface WebhookReceiver extends RecordingJsonPeer<WebhookReceiverRecorded> {
  /** Replaces the secrets deliveries are verified with (any one verifies); throws on a bad one. */
  setSecrets(secrets: string[]): void;
  /**
   * The event types of an order's verified deliveries, each webhook-id once, in arrival order:
   * what a deduplicating receiver acted on.
   */
  events(orderId: string): string[];
}

/** Answer deliveries with `status` (503, 410, …) instead of taking them, or after `delayMs`. */
export type WebhookReceiverFault = PeerFault;

export const WEBHOOK_RECEIVER_SECRET_PATH = '/_secret';

const SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

const secretsSchema = Joi.object({
  secret: Joi.string().pattern(SECRET),
  secrets: Joi.array().items(Joi.string().pattern(SECRET)).min(1),
})
  .xor('secret', 'secrets')
  .required();

function verifiers(secrets: string[]): Webhook[] {
  return secrets.map((secret) => {
    if (!SECRET.test(secret)) {
      // The secret itself is never repeated in a message.
      throw new PeerConfigError('a webhook secret must be whsec_ followed by base64');
    }
    return new Webhook(secret);
  });
}

/** The one header of that name, or null (missing, or repeated and so ambiguous). */
function header(headers: http.IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

function describeDelivery(json: unknown): { event: string | null; order_id: string | null } {
  const body = json as { type?: unknown; data?: { id?: unknown } } | undefined;
  return {
    event: typeof body?.type === 'string' ? body.type : null,
    order_id: typeof body?.data?.id === 'string' ? body.data.id : null,
  };
}

export async function startWebhookReceiver({
  port = 0,
  secrets = [],
  logger = createLogger({ name: 'dev-webhook-receiver' }),
}: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const waiters = changeWaiters();
  let keys = verifiers(secrets);
  const deliveries: ReceivedWebhook[] = [];
  const taken = new Set<string>();
  const counts = { duplicates: 0, rejected: 0, errors: 0, invalid: 0 };

  /** Null when one of the secrets verifies it; otherwise why not. */
  function rejection(raw: string, headers: http.IncomingHttpHeaders): string | null {
    if (!keys.length) return 'no secret set yet';
    const signed = {
      'webhook-id': header(headers, 'webhook-id') ?? '',
      'webhook-timestamp': header(headers, 'webhook-timestamp') ?? '',
      'webhook-signature': header(headers, 'webhook-signature') ?? '',
    };
    let reason = 'no secret verifies it';
    for (const key of keys) {
      try {
        key.verify(raw, signed, { jsonParse: false });
        return null;
      } catch (err) {
        if (!(err instanceof WebhookVerificationError)) throw err;
        reason = err.message;
      }
    }
    return reason;
  }

  function receive(
    res: http.ServerResponse,
    json: unknown,
    { raw, headers }: { raw: string; headers: http.IncomingHttpHeaders },
  ): void {
    const webhookId = header(headers, 'webhook-id');
    const refused = rejection(raw, headers);
    const verified = refused === null;
    const duplicate = verified && webhookId !== null && taken.has(webhookId);
    // Only a verified delivery marks its id taken: a forged one must not shadow the real one.
    if (verified && webhookId !== null) taken.add(webhookId);
    if (duplicate) counts.duplicates++;
    if (!verified) counts.rejected++;
    const status = verified ? 204 : 401;
    const delivery: ReceivedWebhook = {
      webhook_id: webhookId,
      ...describeDelivery(json),
      verified,
      rejection: refused,
      duplicate,
      status,
      received_at: new Date().toISOString(),
      payload: json ?? raw,
    };
    deliveries.push(delivery);
    const what = `${delivery.event ?? '(no type)'} for order ${delivery.order_id ?? '(none)'}`;
    const line = { webhook_id: webhookId ?? '(none)', verified, duplicate };
    if (verified) logger.info(line, `webhook ${what}: verified${duplicate ? ', duplicate' : ''}`);
    else logger.warn({ ...line, reason: refused }, `webhook ${what}: NOT verified (${refused})`);
    if (verified) res.writeHead(204).end();
    else sendJson(res, 401, { detail: refused });
    waiters.changed();
  }

  function accept(
    res: http.ServerResponse,
    json: unknown,
    path: string,
    request: { raw: string; headers: http.IncomingHttpHeaders },
  ): void {
    if (path !== WEBHOOK_RECEIVER_SECRET_PATH) return receive(res, json, request);
    const body = validBody<{ secret?: string; secrets?: string[] }>(
      res,
      secretsSchema,
      json,
      counts,
    );
    if (!body) return;
    keys = verifiers(body.secrets ?? [body.secret!]);
    res.writeHead(204).end();
  }

  function recorded(filter: { order_id?: string } = {}): WebhookReceiverRecorded {
    const source =
      filter.order_id === undefined
        ? deliveries
        : deliveries.filter((d) => d.order_id === filter.order_id);
    const { duplicates, rejected, errors } = counts;
    return { deliveries: source.map((d) => ({ ...d })), duplicates, rejected, errors };
  }

  const peer = await startJsonPeer({
    name: 'webhook receiver',
    listPaths: ['/webhooks', '/_recorded'],
    port,
    logger,
    list: (orderId) => recorded({ order_id: orderId }),
    accept,
    onError: () => counts.errors++,
  });
  return recordingJsonPeer(peer, waiters, recorded, {
    setSecrets(next: string[]) {
      keys = verifiers(next);
    },
    events: (orderId: string) =>
      deliveries
        .filter((d) => d.order_id === orderId && d.verified && !d.duplicate)
        .map((d) => d.event ?? '(no type)'),
    async stop() {
      waiters.cancel('webhook receiver stopped');
      await peer.server.stop();
    },
  });
}

/** The receiver's options from the environment: WEBHOOK_RECEIVER_PORT (8005), WEBHOOK_SECRET. */
export function webhookReceiverOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): WebhookReceiverOptions {
  const secret = env.WEBHOOK_SECRET?.trim();
  return {
    port: envInteger(env, 'WEBHOOK_RECEIVER_PORT', 8005, { max: 65535 }),
    secrets: secret ? [secret] : [],
  };
}

if (isMain(import.meta.url)) {
  runUntilSignal(
    'development webhook receiver',
    () => startWebhookReceiver(webhookReceiverOptionsFromEnv()),
    (peer) =>
      `development webhook receiver on ${peer.url} (GET /webhooks lists what it received; ` +
      `POST ${WEBHOOK_RECEIVER_SECRET_PATH} {"secret":"whsec_…"} sets the subscription's secret)`,
  );
}
