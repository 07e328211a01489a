/** An event from outside (a payment callback, a shipping response) to be applied to one order. */
export interface InboundEvent {
  /** Who sent it: `payments`, `shipping`. With messageKey, what makes a repeat recognisable. */
  source: string;
  /** Stable across the sender's redeliveries of the same message. */
  messageKey: string;
  orderId: string;
  /** The state machine's event name (`payment.succeeded`, `order.shipped`, ...). */
  eventType: string;
  /** The message as received, kept for the inbox processor and for ops. */
  payload: Record<string, unknown>;
}
