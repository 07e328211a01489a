import Joi from 'joi';
import { positiveInt, variable } from './define.js';

/** Order events sent to client systems' subscriptions (docs/webhooks.md). */
export const webhooks = {
  title: 'Order webhooks',
  variables: {
    webhookAllowPrivateUrls: variable({
      env: 'WEBHOOK_ALLOW_PRIVATE_URLS',
      rule: Joi.boolean(),
      default: false,
      description:
        'Let subscriptions reach loopback, private and link-local addresses. Off, such a URL is ' +
        'refused when subscribed and a name that resolves to one is refused at delivery ' +
        '(no request from inside the network on a client’s say-so); tests and `npm run dev` turn it on.',
    }),
    webhookTimeoutMs: variable({
      env: 'WEBHOOK_TIMEOUT_MS',
      rule: positiveInt.max(60000),
      default: 10000,
      description: 'Bound on one delivery to a subscriber, in ms; a timeout is retried.',
    }),
  },
};
