import { expect } from 'chai';
import fc from 'fast-check';
import {
  findUnstorableText,
  isStorableText,
  toStorableText,
} from '../../lib/domain/storable-text.js';
import { anyText, storable } from '../support/properties.js';

describe('storable text (what Postgres text and jsonb can hold)', () => {
  it('when any string is checked, then it is storable exactly when it has no NUL and no unpaired surrogate', () => {
    fc.assert(
      fc.property(anyText(30), (s) => {
        expect(isStorableText(s)).to.equal(storable(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('when any string is made storable, then the result is storable and as long', () => {
    fc.assert(
      fc.property(anyText(30), (s) => {
        const out = toStorableText(s);
        expect(storable(out)).to.equal(true);
        expect(out.length).to.equal(s.length);
        if (storable(s)) expect(out).to.equal(s);
      }),
      { numRuns: 1000 },
    );
  });

  it('when a bad string sits deep in a value, then its path is found; in a key, the key is', () => {
    expect(findUnstorableText({ a: [1, { b: 'ok' }, { c: 'x\u0000' }] })).to.deep.equal([
      'a',
      '2',
      'c',
    ]);
    expect(findUnstorableText({ ok: 1, ['k\ud800']: 1 })).to.deep.equal(['k\ud800']);
    expect(findUnstorableText('\udc00')).to.deep.equal([]);
    expect(findUnstorableText({ a: '\ud83d\ude00', b: [null, 2, true] })).to.equal(undefined);
  });
});
