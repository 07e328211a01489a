import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { UnauthorizedError } from '../domain/errors.js';

/**
 * Standard Webhooks (https://www.standardwebhooks.com) as the Payments peer signs its callbacks:
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}">`,
 * keyed with the decoded bytes of a `whsec_<base64>` secret. The `standardwebhooks` package does
 * the HMAC and the constant-time comparison; this module adds strict header checks and typed
 * reasons, so the route can answer 401 naming what was wrong.
 */

/** How far the sender's clock may be from ours, either way; the package enforces the same 5 min. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

export type WebhookRejection =
  | 'missing_headers'
  | 'malformed_timestamp'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'malformed_body'
  | 'signature_mismatch';

/** A callback whose signature does not prove it came from the holder of the secret: 401. */
export class WebhookSignatureError extends UnauthorizedError {
  constructor(
    readonly reason: WebhookRejection,
    message: string,
    field: string,
    options?: { cause?: unknown },
  ) {
    super(message, field, options);
  }
}

/** Node's `req.headers` shape: lower-case names; a repeated header may arrive as an array. */
export type HeaderBag = Record<string, string | string[] | undefined>;

export interface WebhookVerifier {
  /** Returns when the body is signed with the secret and fresh; throws WebhookSignatureError otherwise. */
  verify(rawBody: Buffer, headers: HeaderBag): void;
}

const UNIX_SECONDS = /^\d{1,12}$/;

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  // A repeated webhook-id or webhook-timestamp is ambiguous: treat it as absent rather than guess.
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Decodes the secret once; throws at construction when it is not `whsec_<base64>` of some bytes. */
export function createWebhookVerifier(secret: string): WebhookVerifier {
  const webhook = new Webhook(secret);
  return {
    verify(rawBody, headers) {
      const id = header(headers, WEBHOOK_HEADERS.id);
      const timestamp = header(headers, WEBHOOK_HEADERS.timestamp);
      const signature = header(headers, WEBHOOK_HEADERS.signature);
      const missing = Object.values(WEBHOOK_HEADERS).filter((h) => !header(headers, h));
      if (!id || !timestamp || !signature) {
        throw new WebhookSignatureError(
          'missing_headers',
          `missing header ${missing.join(', ')}`,
          missing[0]!,
        );
      }
      // The package would parseInt "1700000000abc" into a valid time; only plain digits are honest.
      if (!UNIX_SECONDS.test(timestamp)) {
        throw new WebhookSignatureError(
          'malformed_timestamp',
          `${WEBHOOK_HEADERS.timestamp} must be unix seconds`,
          WEBHOOK_HEADERS.timestamp,
        );
      }
      const skew = Math.floor(Date.now() / 1000) - Number(timestamp);
      if (skew > WEBHOOK_TOLERANCE_SECONDS) {
        throw new WebhookSignatureError(
          'stale_timestamp',
          `${WEBHOOK_HEADERS.timestamp} is more than ${WEBHOOK_TOLERANCE_SECONDS} s old`,
          WEBHOOK_HEADERS.timestamp,
        );
      }
      if (-skew > WEBHOOK_TOLERANCE_SECONDS) {
        throw new WebhookSignatureError(
          'future_timestamp',
          `${WEBHOOK_HEADERS.timestamp} is more than ${WEBHOOK_TOLERANCE_SECONDS} s in the future`,
          WEBHOOK_HEADERS.timestamp,
        );
      }
      // The package signs `body.toString()`, a lossy UTF-8 decode: two byte strings differing only
      // in invalid sequences would share a signature. Valid UTF-8 makes the check exact over the bytes.
      if (!isUtf8(rawBody)) {
        throw new WebhookSignatureError('malformed_body', 'body is not valid UTF-8', 'body');
      }
      try {
        // jsonParse off: express has parsed the body already, from these same bytes.
        webhook.verify(
          rawBody,
          {
            [WEBHOOK_HEADERS.id]: id,
            [WEBHOOK_HEADERS.timestamp]: timestamp,
            [WEBHOOK_HEADERS.signature]: signature,
          },
          { jsonParse: false },
        );
      } catch (err) {
        if (!(err instanceof WebhookVerificationError)) throw err;
        throw new WebhookSignatureError(
          'signature_mismatch',
          `no ${WEBHOOK_HEADERS.signature} matches the body`,
          WEBHOOK_HEADERS.signature,
          { cause: err },
        );
      }
    },
  };
}

/**
 * The `webhook-signature` value for a message (`v1,<base64>`): for tests and the development
 * Payments peer. `timestamp` is unix seconds, as sent in `webhook-timestamp`.
 */
export function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string | Buffer,
): string {
  return new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
}

/** All three Standard Webhooks headers for `body`, with a fresh id and the current time by default. */
export function signedWebhookHeaders(
  secret: string,
  body: string | Buffer,
  { id = `msg_${randomUUID()}`, timestamp = Math.floor(Date.now() / 1000) } = {},
): Record<string, string> {
  return {
    [WEBHOOK_HEADERS.id]: id,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: signWebhook(secret, id, timestamp, body),
  };
}
