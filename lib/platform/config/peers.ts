import Joi from 'joi';
import { httpUrl, positiveInt, variable } from './define.js';

/** The services this one calls over HTTP (names as in the original service). */
export const peers = {
  title: 'Peers',
  variables: {
    catalogUrl: variable({
      env: 'CATALOG_SERVICE_API_URL',
      rule: httpUrl,
      neededBy: ['web'],
      example: 'http://127.0.0.1:8001/api/items',
      description:
        'Catalog base URL: `GET {url}/{item_id}`. Unset, `npm run dev` starts a development one.',
    }),
    paymentsUrl: variable({
      env: 'PAYMENTS_SERVICE_API_URL',
      rule: httpUrl,
      neededBy: ['worker'],
      example: 'http://127.0.0.1:8002/api/payments',
      description:
        'Payments URL: `POST {order_id, amount, callback_url, idempotency_key}`; ' +
        '`GET {url}/{payment_id}` for a payment whose callback has not come.',
    }),
    paymentsRefundsUrl: variable({
      env: 'PAYMENTS_REFUNDS_API_URL',
      // Blank as .env.example writes it: the default then applies.
      rule: httpUrl.allow(''),
      description:
        'Payments refunds URL: `POST {payment_id, order_id, amount, reason, idempotency_key, ' +
        'callback_url}`. Unset: `{PAYMENTS_SERVICE_API_URL}/refunds`.',
    }),
    paymentsCallbackUrl: variable({
      env: 'PAYMENTS_CALLBACK_URL',
      rule: httpUrl,
      default: 'http://127.0.0.1:8000/api/v1/orders/payment-callback',
      description: "Where Payments calls back: this service's public URL and the callback path.",
    }),
    notificationsUrl: variable({
      env: 'NOTIFICATIONS_SERVICE_API_URL',
      rule: httpUrl,
      neededBy: ['worker'],
      example: 'http://127.0.0.1:8003/api/notifications',
      description:
        'Notifications URL: `POST {message, idempotency_key, order_id, user_id, event}`.',
    }),
    // Named as the original service names it, so its deployments keep their settings.
    serviceToken: variable({
      env: 'CAPASHINO_SERVICE_ACCESS_TOKEN',
      rule: Joi.string().allow(''),
      secret: true,
      description:
        "Catalog's access token (the original service's name: Capashino is its Catalog). Sent as " +
        '`X-API-Key` on every outgoing peer call when set.',
    }),
    peerTimeoutMs: variable({
      env: 'PEER_TIMEOUT_MS',
      rule: positiveInt.max(60000),
      default: 3000,
      description: 'Bound on one call to a peer, in ms.',
    }),
  },
};

/** Where refunds are requested: PAYMENTS_REFUNDS_API_URL, else `/refunds` under the payments URL. */
export function paymentsRefundsUrl(config: {
  paymentsRefundsUrl?: string;
  paymentsUrl?: string;
}): string | undefined {
  if (config.paymentsRefundsUrl) return config.paymentsRefundsUrl;
  if (!config.paymentsUrl) return undefined;
  const url = new URL(config.paymentsUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/refunds`;
  return url.toString();
}
