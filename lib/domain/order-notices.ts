/** What the customer is told at each transition of the state machine (lib/domain/order-state.ts). */
export interface Notice {
  /** The notification's event name, sent to Notifications with the message. */
  event: string;
  message: string;
}

const REFUND_NOTE = ' Your payment will be refunded.';

export const NOTICES = {
  paid: { event: 'order.paid', message: 'Your payment was received; your order is paid.' },
  paymentFailed: {
    event: 'order.cancelled',
    message: 'Your payment failed, so your order was cancelled.',
  },
  paymentExpired: {
    event: 'order.cancelled',
    message: 'Your payment was not confirmed in time, so your order was cancelled.',
  },
  shipped: { event: 'order.shipped', message: 'Your order has been shipped.' },
  tooLate: {
    event: 'order.cancel_too_late',
    message: 'Your cancellation came too late: your order had already been shipped.',
  },
  shippingFailed: {
    event: 'order.cancelled',
    message: `Your order could not be shipped and was cancelled.${REFUND_NOTE}`,
  },
  cancelledByShipping: {
    event: 'order.cancelled',
    message: `Your order was cancelled.${REFUND_NOTE}`,
  },
  cancelledAsAsked: {
    event: 'order.cancelled',
    message: 'Your order was cancelled as you asked.',
  },
  cancelledAsAskedRefund: {
    event: 'order.cancelled',
    message: `Your order was cancelled as you asked.${REFUND_NOTE}`,
  },
  cancelRequested: {
    event: 'order.cancel_requested',
    message:
      'We asked Shipping to stop your order; we will tell you whether it could be cancelled.',
  },
  latePayment: {
    event: 'order.refund_requested',
    message: 'Your payment arrived after your order was cancelled; it will be refunded.',
  },
  refunded: { event: 'order.refunded', message: 'Your payment has been refunded.' },
  refundFailed: {
    event: 'order.refund_failed',
    message: 'We could not refund your payment automatically; we will contact you about it.',
  },
} satisfies Record<string, Notice>;
