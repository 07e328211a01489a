import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_PAGE_SIZE } from '../../api/schemas.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { orderBody } from '../support/factories.js';
import { anyText, expectRefusalNaming, neverHangs, uuidLike } from '../support/properties.js';

const QUERY_FIELDS = ['user_id', 'limit', 'cursor'] as const;

/** Percent-encodes every UTF-16 unit it can; lone surrogates become %EF%BF%BD-free raw escapes. */
function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate has no UTF-8 form: send its WTF-8 bytes, as a careless client would.
    return [...s]
      .map((ch) => {
        const c = ch.charCodeAt(0);
        if (c >= 0xd800 && c <= 0xdfff && ch.length === 1) {
          return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]
            .map((b) => `%${b.toString(16).toUpperCase()}`)
            .join('');
        }
        return encodeURIComponent(ch);
      })
      .join('');
  }
}

/** A path segment as a client may send it: encoded text, raw printable text, stray `%`s. */
const segment = fc.oneof(
  anyText(50)
    .filter((s) => s.length > 0)
    .map(encodeSegment),
  fc.stringMatching(/^[A-Za-z0-9%._~:@!$&'()*+,;=-]{1,60}$/),
  fc.uuid().map((u) => `${u}%`),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid({ version: 7 }),
  // Spellings of a UUID that are not the canonical one, some of which Postgres refuses.
  uuidLike.map(encodeSegment),
);

describe('read endpoints with generated paths and query strings (fast-check)', function () {
  this.timeout(120000);
  let api: TestApi;
  let existing: { id: string; userId: string };

  before(async () => {
    api = await startTestApi({ label: 'prop_read' });
    const created = await api.request('POST', '/api/v1/orders', orderBody());
    existing = { id: created.body.data.id, userId: created.body.data.user_id };
  });
  after(async () => {
    await api?.stop();
  });

  it('when GET /api/v1/orders/{anything} is asked, then 200 for the order, else 400 or 404 naming the id (or the path, when it cannot be decoded), never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(segment, async (seg) => {
        // "." and ".." are the URL's own business (the client resolves them away).
        fc.pre(!['.', '..', '%2e', '%2E', '%2e%2e', '%2E%2E'].includes(seg));
        const res = await api.request('GET', `/api/v1/orders/${seg}`);
        if (res.status === 200) {
          expect(res.body.data.id).to.equal(existing.id);
          return;
        }
        expectRefusalNaming(res, ['id', 'path'], [400, 404]);
      }),
      neverHangs(200),
    );
    expect((await api.request('GET', `/api/v1/orders/${existing.id}`)).status).to.equal(200);
  });

  it('when GET /api/v1/orders has any query string, then 200 with a page, or 400 naming a parameter it was given', async () => {
    const key = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...QUERY_FIELDS) },
      fc.stringMatching(/^[a-z_[\]]{1,10}$/),
    );
    const value = fc.oneof(
      fc.constant(existing.userId),
      fc.integer({ min: -5, max: MAX_PAGE_SIZE + 5 }).map(String),
      fc.base64String({ maxLength: 60 }).map((b) => b.replace(/\+/g, '-').replace(/\//g, '_')),
      anyText(40),
      fc.constant(''),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, value), { maxLength: 5 }), async (pairs) => {
        const qs = pairs.map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(v)}`).join('&');
        const res = await api.request('GET', `/api/v1/orders?${qs}`);
        if (res.status === 200) {
          expect(res.body.data, qs).to.be.an('array');
          expect(res.body.meta.limit, qs).to.be.within(1, MAX_PAGE_SIZE);
          for (const o of res.body.data) expect(o.user_id).to.be.a('string');
          return;
        }
        // A parameter it was sent (user_id also when it was not: it is required).
        const given = [...pairs.map(([k]) => k), 'user_id'];
        expectRefusalNaming(res, given);
      }),
      neverHangs(200),
    );
  });
});
