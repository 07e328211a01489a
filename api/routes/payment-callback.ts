import { Router, type ErrorRequestHandler } from 'express';
import type { Db } from '../../db/client.js';
import {
  recordPaymentResult,
  type PaymentCallback,
  type PaymentResultOutcome,
} from '../../lib/orders/record-payment-result.js';
import { AppError } from '../../lib/domain/errors.js';
import type { Logger } from '../../lib/platform/logger.js';
import {
  createWebhookVerifier,
  WEBHOOK_HEADERS,
  WebhookSignatureError,
} from '../../lib/peers/webhook-signature.js';
import { send } from '../envelope.js';
import { httpStatusOf } from '../errors.js';
import { paymentCallbackBody } from '../schemas.js';
import { validate } from '../validate.js';

export const PAYMENT_CALLBACK_PATH = '/api/v1/orders/payment-callback';

export interface PaymentCallbackRouteDeps {
  db: Db;
  /** Standard Webhooks secret; when unset callbacks are taken unsigned (development only). */
  webhookSecret?: string;
}

const EMPTY = Buffer.alloc(0);

const outcomeName = (o: PaymentResultOutcome) => (o.kind === 'pending' ? 'ignored' : o.kind);

function logRefusal(
  log: Logger,
  err: unknown,
  webhookId: string | undefined,
  callback?: PaymentCallback,
): void {
  // A refused callback is Payments (or someone posing as it) disagreeing with us: worth a warning
  // even though the answer is a 4xx. Ids and the reason only: never the signature, the secret or
  // the body.
  if (err instanceof AppError && httpStatusOf(err) < 500) {
    log.warn(
      {
        status: httpStatusOf(err),
        field: err.field,
        reason: err instanceof WebhookSignatureError ? err.reason : err.message,
        webhook_id: webhookId,
        order_id: callback?.order_id,
        payment_id: callback?.id,
      },
      'payment callback refused',
    );
  }
}

export interface PaymentCallbackRoutes {
  /** Mount at PAYMENT_CALLBACK_PATH, ahead of the orders router so `/:id` does not take it. */
  router: Router;
  /**
   * Mount at PAYMENT_CALLBACK_PATH after the router. A body that is not JSON fails in the app-wide
   * parser, before any route; with a secret, this checks the signature of those bytes first, so an
   * unsigned or tampered request is 401 whatever it holds, and only a sender holding the secret is
   * told that its JSON was bad.
   */
  parseErrors: ErrorRequestHandler;
}

export function paymentCallbackRoutes(deps: PaymentCallbackRouteDeps): PaymentCallbackRoutes {
  const verifier = deps.webhookSecret ? createWebhookVerifier(deps.webhookSecret) : undefined;
  const router = Router();

  router.post('/', async (req, res) => {
    const log = res.locals.log as Logger;
    let callback: PaymentCallback | undefined;
    try {
      if (verifier) verifier.verify(req.rawBody ?? EMPTY, req.headers);
      callback = validate(paymentCallbackBody, req.body);
      const outcome = await recordPaymentResult(deps.db, callback);
      // The log line carries what Payments is told, plus the inbox row when one was written.
      const answer = {
        order_id: callback.order_id,
        payment_id: callback.id,
        status: callback.status,
        outcome: outcomeName(outcome),
      };
      log.info(
        { ...answer, ...(outcome.kind !== 'pending' && { inbox_id: outcome.inboxId }) },
        'payment callback accepted',
      );
      send(res, 200, answer, { duplicate: outcome.kind === 'duplicate' });
    } catch (err) {
      logRefusal(log, err, req.get(WEBHOOK_HEADERS.id), callback);
      throw err;
    }
  });

  const parseErrors: ErrorRequestHandler = (err, req, res, next) => {
    if (verifier && (err as { type?: unknown } | null)?.type === 'entity.parse.failed') {
      try {
        verifier.verify(req.rawBody ?? EMPTY, req.headers);
      } catch (refusal) {
        logRefusal(res.locals.log as Logger, refusal, req.get(WEBHOOK_HEADERS.id));
        next(refusal);
        return;
      }
    }
    next(err);
  };

  return { router, parseErrors };
}
