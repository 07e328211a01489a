/**
 * The fault suite's client system: a real local HTTP server (scripts/testkit's recording peer)
 * subscribed to every order event (`*`) through a webhook_subscriptions row written before any
 * order exists, so every order's events fan out to it. Each request is verified with the
 * `standardwebhooks` package when it arrives (the signature's timestamp must be recent then, as
 * for any receiver) and kept with its verdict for the ledger (webhook-ledger.ts).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import {
  startRecordingPeer,
  type RecordedRequest,
  type RecordingPeer,
} from '../../../scripts/testkit/recording-peer.js';
import { newWebhookSecret } from '../../support/webhooks.js';
import type { ReceivedDelivery } from './webhook-ledger.js';

export interface WebhookReceiver {
  url: string;
  subscriptionId: string;
  /** Every request so far, in arrival order. */
  deliveries(): ReceivedDelivery[];
  /** The requests whose payload names the order. */
  forOrder(orderId: string): ReceivedDelivery[];
  /** Requests whose payload names no order (not an order event). */
  unattributed(): ReceivedDelivery[];
  /** Answers every request from now on with `status` (503 for an outage; 204 to take them). */
  answer(status: number): void;
  /** Stops listening: deliveries meet a refused connection, as when the client's server is down. */
  refuseConnections(): Promise<void>;
  /** Listens again, on the same URL. */
  acceptConnections(): Promise<void>;
  close(): Promise<void>;
}

/** What a subscriber answers a delivery it took. */
export const TAKEN = 204;

function headerOf(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function readDelivery(request: RecordedRequest, verifier: Webhook): ReceivedDelivery {
  const body = request.body as { type?: unknown; data?: { id?: unknown } } | undefined;
  let signatureProblem: string | undefined;
  try {
    verifier.verify(request.raw, {
      'webhook-id': headerOf(request, 'webhook-id') ?? '',
      'webhook-timestamp': headerOf(request, 'webhook-timestamp') ?? '',
      'webhook-signature': headerOf(request, 'webhook-signature') ?? '',
    });
  } catch (err) {
    signatureProblem = (err as Error).message;
  }
  return {
    messageId: headerOf(request, 'webhook-id'),
    type: typeof body?.type === 'string' ? body.type : undefined,
    orderId: typeof body?.data?.id === 'string' ? body.data.id : undefined,
    at: request.at,
    status: request.status,
    signatureProblem,
  };
}

/**
 * Starts the receiver and subscribes it in `pool`'s database, directly (the admin API is another
 * part of the service, and a scenario must not depend on it to count deliveries).
 */
export async function startWebhookReceiver(pool: pg.Pool): Promise<WebhookReceiver> {
  const secret = newWebhookSecret();
  const verifier = new Webhook(secret);
  const all: ReceivedDelivery[] = [];
  const byOrder = new Map<string, ReceivedDelivery[]>();
  const peer: RecordingPeer = await startRecordingPeer([{ status: TAKEN }], {
    onRequest(request) {
      const delivery = readDelivery(request, verifier);
      all.push(delivery);
      if (delivery.orderId !== undefined) {
        const list = byOrder.get(delivery.orderId) ?? [];
        list.push(delivery);
        byOrder.set(delivery.orderId, list);
      }
    },
  });
  const url = `${peer.url}order-events`;
  const subscriptionId = randomUUID();
  try {
    await pool.query(
      `insert into webhook_subscriptions (id, url, events, description, secret)
       values ($1, $2, $3, $4, $5)`,
      [subscriptionId, url, ['*'], 'fault suite receiver', secret],
    );
  } catch (err) {
    await peer.close();
    throw err;
  }
  return {
    url,
    subscriptionId,
    deliveries: () => [...all],
    forOrder: (orderId) => [...(byOrder.get(orderId) ?? [])],
    unattributed: () => all.filter((d) => d.orderId === undefined),
    answer: (status) => peer.script([{ status }]),
    refuseConnections: () => peer.refuseConnections(),
    acceptConnections: () => peer.acceptConnections(),
    close: () => peer.close(),
  };
}
