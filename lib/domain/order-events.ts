/** The order events client systems may subscribe to (docs/webhooks.md). */
export const ORDER_EVENT_TYPES = [
  'order.created',
  'order.paid',
  'order.shipped',
  'order.cancelled',
  'order.refunded',
  'order.refund_failed',
] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];
