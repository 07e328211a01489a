import { expect } from 'chai';
import { createHmac, randomBytes } from 'node:crypto';
import sinon from 'sinon';
import { httpStatusOf } from '../../api/errors.js';
import {
  createWebhookVerifier,
  signWebhook,
  signedWebhookHeaders,
  WebhookSignatureError,
  type HeaderBag,
  type WebhookRejection,
} from '../../lib/peers/webhook-signature.js';

const KEY = randomBytes(32);
const SECRET = `whsec_${KEY.toString('base64')}`;
const NOW_S = 1_750_000_000;
const BODY = Buffer.from('{"id":"pay_1","status":"succeeded","amount":"5.00"}');

function headersFor(
  body: Buffer | string,
  overrides: HeaderBag = {},
  timestamp = NOW_S,
): HeaderBag {
  return { ...signedWebhookHeaders(SECRET, body, { id: 'msg_1', timestamp }), ...overrides };
}

function rejection(fn: () => void): WebhookSignatureError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(WebhookSignatureError);
    return err as WebhookSignatureError;
  }
  expect.fail('expected the signature to be rejected');
}

function expectRejected(body: Buffer, headers: HeaderBag, reason: WebhookRejection): string {
  const err = rejection(() => createWebhookVerifier(SECRET).verify(body, headers));
  expect(err.reason).to.equal(reason);
  expect(httpStatusOf(err)).to.equal(401);
  return err.field!;
}

describe('webhook signature (Standard Webhooks)', () => {
  let clock: sinon.SinonFakeTimers;

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: NOW_S * 1000, toFake: ['Date'] });
  });
  afterEach(() => {
    clock.restore();
  });

  it('when signing, then the value is v1, + base64 HMAC-SHA256 of id.timestamp.body keyed by the decoded secret', () => {
    const expected = createHmac('sha256', KEY).update(`msg_1.${NOW_S}.`).update(BODY).digest();
    expect(signWebhook(SECRET, 'msg_1', NOW_S, BODY)).to.equal(`v1,${expected.toString('base64')}`);
  });

  it('when the body is signed with the secret and fresh, then it is accepted', () => {
    expect(() => createWebhookVerifier(SECRET).verify(BODY, headersFor(BODY))).not.to.throw();
  });

  it('when the sender clock is 5 minutes off either way, then it is still accepted', () => {
    const verifier = createWebhookVerifier(SECRET);
    expect(() => verifier.verify(BODY, headersFor(BODY, {}, NOW_S - 300))).not.to.throw();
    expect(() => verifier.verify(BODY, headersFor(BODY, {}, NOW_S + 300))).not.to.throw();
  });

  it('when signed with another secret, then it is rejected as a mismatch', () => {
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    const headers = signedWebhookHeaders(other, BODY, { id: 'msg_1', timestamp: NOW_S });
    expect(expectRejected(BODY, headers, 'signature_mismatch')).to.equal('webhook-signature');
  });

  it('when the body was changed after signing, then it is rejected as a mismatch', () => {
    const tampered = Buffer.from(BODY.toString().replace('5.00', '0.01'));
    expectRejected(tampered, headersFor(BODY), 'signature_mismatch');
  });

  it('when the id or timestamp was changed after signing, then it is rejected as a mismatch', () => {
    expectRejected(BODY, headersFor(BODY, { 'webhook-id': 'msg_2' }), 'signature_mismatch');
    expectRejected(
      BODY,
      headersFor(BODY, { 'webhook-timestamp': String(NOW_S - 1) }),
      'signature_mismatch',
    );
  });

  it('when the timestamp is more than 5 minutes old, then it is rejected as stale', () => {
    const field = expectRejected(BODY, headersFor(BODY, {}, NOW_S - 301), 'stale_timestamp');
    expect(field).to.equal('webhook-timestamp');
  });

  it('when the timestamp is more than 5 minutes ahead, then it is rejected as from the future', () => {
    expectRejected(BODY, headersFor(BODY, {}, NOW_S + 301), 'future_timestamp');
  });

  it('when the timestamp is not plain unix seconds, then it is rejected', () => {
    expectRejected(
      BODY,
      headersFor(BODY, { 'webhook-timestamp': `${NOW_S}abc` }),
      'malformed_timestamp',
    );
    expectRejected(BODY, headersFor(BODY, { 'webhook-timestamp': '-1' }), 'malformed_timestamp');
  });

  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    it(`when ${name} is missing, then it is rejected naming it`, () => {
      const field = expectRejected(
        BODY,
        headersFor(BODY, { [name]: undefined }),
        'missing_headers',
      );
      expect(field).to.equal(name);
    });

    it(`when ${name} is empty or repeated, then it counts as missing`, () => {
      expectRejected(BODY, headersFor(BODY, { [name]: '' }), 'missing_headers');
      expectRejected(BODY, headersFor(BODY, { [name]: ['a', 'b'] }), 'missing_headers');
    });
  }

  it('when several space-separated signatures are sent and one matches, then it is accepted', () => {
    const good = signWebhook(SECRET, 'msg_1', NOW_S, BODY);
    const bogus = `v1,${randomBytes(32).toString('base64')}`;
    const headers = headersFor(BODY, { 'webhook-signature': `${bogus} v1a,xyz ${good}` });
    expect(() => createWebhookVerifier(SECRET).verify(BODY, headers)).not.to.throw();
  });

  it('when the matching signature is labelled with another version, then it is rejected', () => {
    const good = signWebhook(SECRET, 'msg_1', NOW_S, BODY).replace(/^v1,/, 'v2,');
    expectRejected(BODY, headersFor(BODY, { 'webhook-signature': good }), 'signature_mismatch');
  });

  it('when the body is not valid UTF-8, then it is rejected before any HMAC', () => {
    const body = Buffer.concat([BODY, Buffer.from([0xff])]);
    expectRejected(body, headersFor(body), 'malformed_body');
  });

  it('when the secret decodes to no bytes, then building a verifier fails at once', () => {
    expect(() => createWebhookVerifier('whsec_')).to.throw();
  });
});
