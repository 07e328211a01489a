import { expect } from 'chai';
import {
  CAUSE_MAX_LENGTH,
  errorClassOf,
  groupFailures,
  normaliseCause,
  normaliseMessage,
} from '../../lib/domain/failure-cause.js';
import { formatRelativeMs } from '../../lib/domain/relative-time.js';
import { uuidv7LowerBound } from '../../lib/domain/ids.js';
import { v7 as uuidv7 } from 'uuid';

describe('failure causes', () => {
  it('when two messages differ only in ids, numbers, URLs and quoted values, then their causes are one', () => {
    const a = normaliseCause(
      'PeerRejectedError',
      'payments answered 400: amount 0.70 refused for order 0195f0a2-1c4b-7d3e-8f00-1234567890ab at http://pay.example/api/payments?x=1 ("card declined")',
    );
    const b = normaliseCause(
      'PeerRejectedError',
      "payments answered 422: amount 12 refused for order 0195f0a2-9999-7d3e-8f00-aaaaaaaaaaaa at https://pay2.example:8443/v2 ('limit')",
    );
    expect(a).to.equal(b);
    expect(a).to.equal(
      'PeerRejectedError: payments answered <n>: amount <n> refused for order <id> at <url> (<value>)',
    );
  });

  it('when the error class differs, then the causes differ', () => {
    expect(normaliseCause('PeerRejectedError', 'x 1')).not.to.equal(
      normaliseCause('PeerUnavailableError', 'x 2'),
    );
  });

  it('when a message holds a job id, a hex trace id or spans lines, then each is taken out and the text is one line', () => {
    expect(
      normaliseMessage('job outbox-123 failed\n  trace 4bf92f3577b34da6a3ce929d0e0e4736'),
    ).to.equal('job outbox-<n> failed trace <id>');
  });

  it('when a message is very long, then the cause is cut to its limit', () => {
    const cause = normaliseMessage('word '.repeat(500));
    expect(cause.length).to.equal(CAUSE_MAX_LENGTH);
    expect(cause.endsWith('…')).to.equal(true);
  });

  it('when a stack names its class, then that is the class; else Error', () => {
    expect(errorClassOf('PeerRejectedError: payments answered 400\n    at x (y.js:1:1)')).to.equal(
      'PeerRejectedError',
    );
    expect(errorClassOf('UnrecoverableError')).to.equal('UnrecoverableError');
    expect(errorClassOf(undefined)).to.equal('Error');
    expect(errorClassOf('   at somewhere (file.js:1:2)')).to.equal('Error');
  });

  it('when failures are grouped, then each group has its count, first and last seen, sources and newest sample, the largest first', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 7, 12, 0, s));
    const groups = groupFailures([
      { cause: 'A', at: at(5), source: 'payments', item: 'a1' },
      { cause: 'B', at: at(1), source: 'shipping', item: 'b1' },
      { cause: 'A', at: at(9), source: 'notifications', item: 'a2' },
      { cause: 'A', at: at(2), source: 'payments', item: 'a3' },
    ]);
    expect(groups.map((g) => [g.cause, g.count])).to.deep.equal([
      ['A', 3],
      ['B', 1],
    ]);
    expect(groups[0]).to.deep.include({
      firstSeen: at(2),
      lastSeen: at(9),
      sources: ['notifications', 'payments'],
      sample: 'a2',
      items: ['a1', 'a2', 'a3'],
    });
  });
});

describe('relative times', () => {
  const cases: [number, string][] = [
    [0, '+0 ms'],
    [6, '+6 ms'],
    [999, '+999 ms'],
    [2100, '+2.1 s'],
    [42_000, '+42 s'],
    [150_000, '+2.5 min'],
    [3 * 3_600_000, '+3 h'],
    [50 * 3_600_000, '+2.1 d'],
    [-1500, '−1.5 s'],
  ];
  for (const [ms, text] of cases) {
    it(`when ${ms} ms after the start, then ${text}`, () => {
      expect(formatRelativeMs(ms)).to.equal(text);
    });
  }
});

describe('the smallest UUIDv7 of a millisecond', () => {
  it('when ids are made at, after and before that millisecond, then the bound sorts below the first two and above the last', () => {
    const ms = Date.UTC(2026, 11, 7, 12, 0, 0);
    const bound = uuidv7LowerBound(ms);
    expect(bound).to.equal(
      `${ms
        .toString(16)
        .padStart(12, '0')
        .replace(/^(.{8})/, '$1-')}-0000-0000-000000000000`,
    );
    expect(uuidv7({ msecs: ms }) >= bound).to.equal(true);
    expect(uuidv7({ msecs: ms + 1 }) >= bound).to.equal(true);
    expect(uuidv7({ msecs: ms - 1 }) < bound).to.equal(true);
  });
});
