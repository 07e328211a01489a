import { expect } from 'chai';

/**
 * Finding secrets in text (logs, answers): each secret as is and in the forms it could leak in
 * without being spelt out, so a log line carrying an Authorization header, a URL-encoded password
 * or the decoded webhook key is caught too. Used by the logs test (test/e2e/secrets-in-logs) and
 * meant for any suite that runs the service's processes (the faults suite).
 */

/** Secrets by name (the variable they come from), e.g. `{ ADMIN_PASSWORD: 'x' }`. */
export type Secrets = Record<string, string>;

/** Shorter forms could turn up by chance; tests should use long random secrets anyway. */
const MIN_FORM_LENGTH = 8;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * The base64 characters that `bytes` fix wherever they sit inside a longer base64 text: one run
 * per alignment (the bytes starting 0, 1 or 2 bytes into a 3-byte group). So `user:password` in a
 * Basic header shows the password's run even though base64(password) alone is not in it.
 */
export function base64Runs(bytes: Buffer): string[] {
  const runs: string[] = [];
  for (let lead = 0; lead < 3; lead++) {
    const padded = Buffer.concat([Buffer.alloc(lead), bytes]);
    const firstBit = lead * 8;
    const endBit = (lead + bytes.length) * 8;
    let run = '';
    // Character i of the encoding is bits [6i, 6i + 6) of the padded bytes.
    for (let i = Math.ceil(firstBit / 6); (i + 1) * 6 <= endBit; i++) {
      let v = 0;
      for (let b = i * 6; b < i * 6 + 6; b++)
        v = (v << 1) | ((padded[b >> 3]! >> (7 - (b & 7))) & 1);
      run += ALPHABET[v];
    }
    runs.push(run);
  }
  return runs;
}

/** Every form of one secret to look for. */
export function secretForms(secret: string): string[] {
  const values = [secret];
  // A Standard Webhooks secret: its base64 part alone, and the key bytes it decodes to.
  const whsec = /^whsec_(.+)$/.exec(secret);
  const keys = [Buffer.from(secret, 'utf8')];
  if (whsec) {
    values.push(whsec[1]!);
    keys.push(Buffer.from(whsec[1]!, 'base64'));
  }
  const forms = new Set<string>();
  for (const v of values) {
    forms.add(v);
    forms.add(encodeURIComponent(v));
    forms.add(JSON.stringify(v).slice(1, -1));
  }
  for (const key of keys) {
    forms.add(key.toString('hex'));
    forms.add(key.toString('hex').toUpperCase());
    for (const run of base64Runs(key)) {
      forms.add(run);
      forms.add(run.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms].filter((f) => f.length >= MIN_FORM_LENGTH);
}

export interface SecretFinding {
  name: string;
  form: string;
  /** The text around the finding, with the form itself masked. */
  context: string;
}

export function findSecretsIn(text: string, secrets: Secrets): SecretFinding[] {
  const found: SecretFinding[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of secretForms(secret)) {
      const at = text.indexOf(form);
      if (at < 0) continue;
      const context = text
        .slice(Math.max(0, at - 120), at + form.length + 60)
        .replace(form, '<SECRET>');
      found.push({ name, form: `${form.length} characters`, context });
    }
  }
  return found;
}

/** Fails naming each secret found in `text` (and the line around it, the secret masked). */
export function assertNoSecretsIn(text: string, secrets: Secrets, what = 'text'): void {
  for (const [name, secret] of Object.entries(secrets)) {
    expect(secretForms(secret).length, `${name} is long enough to search for`).to.be.above(0);
  }
  const found = findSecretsIn(text, secrets);
  expect(
    found,
    `secrets in ${what}:\n${found.map((f) => `${f.name} (${f.form}): …${f.context}…`).join('\n')}`,
  ).to.deep.equal([]);
}
