import Joi from 'joi';
import { canonicalUuid } from '../platform/id-schema.js';
import type { OrderEvent } from '../domain/order-state.js';
import { findUnstorableText } from '../domain/storable-text.js';
import { SHIPPING_REQUEST_EVENTS } from '../../db/outbox/events.js';

/**
 * Turns one shipping-response message into what the service does with it, without I/O:
 * a shipping result to record, a message to skip, or a reason to dead-letter it. The Kafka
 * consumer and the dead-letter replay both go through here.
 */
export const SHIPPING_RESULT_EVENTS = [
  'order.shipped',
  'order.cancelled',
  'shipping.failed',
] as const satisfies readonly OrderEvent[];
export type ShippingResultEvent = (typeof SHIPPING_RESULT_EVENTS)[number];

export interface ShippingResult {
  eventType: ShippingResultEvent;
  orderId: string;
  shipmentId: string | null;
  /** Unique per meaningful message: a redelivery, or Shipping sending the same answer again, maps here. */
  messageKey: string;
  payload: Record<string, unknown>;
}

export type ParsedShippingResponse =
  | { kind: 'result'; result: ShippingResult }
  | { kind: 'skip'; reason: string }
  | { kind: 'dead-letter'; reason: string };

const responseSchema = Joi.object({
  event_type: Joi.string()
    .valid(...SHIPPING_RESULT_EVENTS)
    .required(),
  // Ids in the canonical form only, as the API takes them: another spelling that Postgres refuses
  // would fail at the write, every time.
  order_id: canonicalUuid.required(),
  item_id: canonicalUuid,
  quantity: Joi.number().integer().min(1),
  shipment_id: Joi.when('event_type', {
    is: 'order.shipped',
    then: Joi.string().min(1).max(200).required(),
    otherwise: Joi.string().max(200).allow(null, ''),
  }),
  reason: Joi.string().max(1000).allow(null, ''),
}).unknown(true);

export function parseShippingResponse(raw: string | null): ParsedShippingResponse {
  if (raw === null || raw === '') return { kind: 'dead-letter', reason: 'empty message' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return { kind: 'dead-letter', reason: `not JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { kind: 'dead-letter', reason: 'not a JSON object' };
  }
  const eventType = (parsed as { event_type?: unknown }).event_type;
  // This service's own requests (to ship, to cancel): skipped when both directions share a topic.
  if ((SHIPPING_REQUEST_EVENTS as unknown[]).includes(eventType)) {
    return { kind: 'skip', reason: `own shipping request (${String(eventType)})` };
  }
  if (
    typeof eventType === 'string' &&
    !(SHIPPING_RESULT_EVENTS as readonly string[]).includes(eventType)
  ) {
    return { kind: 'skip', reason: `event type ${eventType} is not a shipping result` };
  }
  // Postgres could not store it in the inbox: refusing it here keeps the partition moving. (A
  // message that is skipped is never stored, so this comes after the skips.)
  const unstorable = findUnstorableText(parsed);
  if (unstorable !== undefined) {
    return {
      kind: 'dead-letter',
      reason: `invalid: ${unstorable.join('.')} contains NUL or an unpaired surrogate`,
    };
  }
  const { error, value } = responseSchema.validate(parsed, { abortEarly: false });
  if (error) return { kind: 'dead-letter', reason: `invalid: ${error.message}` };
  const v = value as {
    event_type: ShippingResultEvent;
    order_id: string;
    shipment_id?: string | null;
  };
  const shipmentId = v.shipment_id ? v.shipment_id : null;
  return {
    kind: 'result',
    result: {
      eventType: v.event_type,
      orderId: v.order_id.toLowerCase(),
      shipmentId,
      messageKey: `${v.event_type}:${v.order_id.toLowerCase()}:${shipmentId ?? ''}`,
      payload: value as Record<string, unknown>,
    },
  };
}
