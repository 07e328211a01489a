import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { assertNoSecretsIn, base64Runs, findSecretsIn } from '../support/secrets.js';

describe('assertNoSecretsIn (test/support/secrets)', () => {
  const password = 'pw-9f2c1e7a5b3d';
  const webhook = `whsec_${randomBytes(24).toString('base64')}`;
  const secrets = { ADMIN_PASSWORD: password, PAYMENTS_WEBHOOK_SECRET: webhook };

  it('when a secret sits inside any longer base64 text, then one of its runs is in it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 10 }),
        fc.uint8Array({ minLength: 6, maxLength: 30 }),
        fc.uint8Array({ maxLength: 10 }),
        (before, secret, after) => {
          const whole = Buffer.concat([before, secret, after]).toString('base64');
          expect(base64Runs(Buffer.from(secret)).some((r) => whole.includes(r))).to.equal(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  for (const [label, text] of [
    ['as is', `{"msg":"x","password":"${password}"}`],
    [
      'in a Basic header',
      `authorization: Basic ${Buffer.from(`ops:${password}`).toString('base64')}`,
    ],
    ['in a URL', `postgres://u:${encodeURIComponent(`${password}/+`)}@h/db`],
    ['as the base64 part of a webhook secret', `key=${webhook.slice(6)}`],
    ['as the hex of the webhook key', Buffer.from(webhook.slice(6), 'base64').toString('hex')],
  ] as const) {
    it(`when a secret is ${label}, then it is found`, () => {
      expect(findSecretsIn(text, secrets)).to.not.be.empty;
      expect(() => assertNoSecretsIn(text, secrets)).to.throw(/secrets in text/);
    });
  }

  it('when the text holds no secret, then nothing is found, and the failure never prints a secret', () => {
    const text = '{"msg":"request","password":"***","url":"postgres://u:***@h/db"}';
    expect(() => assertNoSecretsIn(text, secrets)).to.not.throw();
    expect(() => assertNoSecretsIn(`x ${password} y`, secrets))
      .to.throw(/<SECRET>/)
      .that.satisfies((err: Error) => !err.message.includes(password));
  });
});
