import { expect } from 'chai';
import { UnrecoverableError } from 'bullmq';
import { DatabaseError } from 'pg';
import { httpStatusOf } from '../../api/errors.js';
import { judge } from '../../jobs/outbox/judge-failure.js';
import {
  ItemNotFoundError,
  PeerContractError,
  PeerRejectedError,
  PeerUnavailableError,
  ValidationError,
} from '../../lib/domain/errors.js';
import { classifyFailure, incurableReason } from '../../lib/platform/retry.js';

/** An error as node-postgres gives it for a statement Postgres refused. */
function refused(code: string, message = `refused with ${code}`): DatabaseError {
  const err = new DatabaseError(message, message.length, 'error');
  err.code = code;
  return err;
}

/** As drizzle wraps a driver error: the driver's is the cause. */
const wrapped = (cause: unknown) =>
  new Error('Failed query: select 1\nparams: x', { cause: cause as Error });

const systemError = (code: string) =>
  Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });

describe('what retrying can cure (classifyFailure, and the job verdict judge() built on it)', () => {
  const unavailable: Array<[string, unknown]> = [
    ['connection refused', systemError('ECONNREFUSED')],
    ['connection reset', systemError('ECONNRESET')],
    ['a socket timeout', systemError('ETIMEDOUT')],
    ['SQLSTATE 08006 (connection failure)', refused('08006')],
    ['SQLSTATE 57P01 (admin shutdown)', refused('57P01')],
    ['SQLSTATE 57P02 (crash shutdown)', refused('57P02')],
    ['SQLSTATE 57P03 (cannot connect now)', wrapped(refused('57P03'))],
    ['the pool timing out a connect', new Error('timeout exceeded when trying to connect')],
    ['a peer down or slow', new PeerUnavailableError('payments', 'timed out', undefined)],
    ['SQLSTATE 40001 (serialization failure)', refused('40001')],
    ['SQLSTATE 40P01 (deadlock)', refused('40P01')],
    ['SQLSTATE 57014 (statement timeout)', refused('57014')],
    ['an error nobody named', new Error('something odd')],
  ];
  for (const [what, err] of unavailable) {
    it(`when the failure is ${what}, then it is unavailability: retried`, () => {
      expect(classifyFailure(err)).to.equal('unavailable');
      expect(judge(err).kind).to.equal('retry');
    });
  }

  const incurable: Array<[string, unknown, RegExp]> = [
    [
      'SQLSTATE 22P02 (a uuid Postgres cannot read)',
      refused('22P02', 'invalid input syntax for type uuid: "0190a0a0:0000"'),
      /^refused by Postgres \(SQLSTATE 22P02\): invalid input syntax for type uuid/,
    ],
    [
      'SQLSTATE 22021 wrapped by drizzle',
      wrapped(refused('22021')),
      /^refused by Postgres \(SQLSTATE 22021\)/,
    ],
    ['SQLSTATE 23502 (not-null violation)', refused('23502'), /SQLSTATE 23502/],
    ['SQLSTATE 23514 (check violation)', wrapped(refused('23514')), /SQLSTATE 23514/],
    [
      'a bug',
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      /^a bug: TypeError: Cannot read properties/,
    ],
    [
      'a bug wrapped as the cause',
      wrapped(new RangeError('Invalid time value')),
      /^a bug: RangeError: Invalid time value/,
    ],
  ];
  for (const [what, err, reason] of incurable) {
    it(`when the failure is ${what}, then it is incurable: a job fails at once with the reason`, () => {
      expect(classifyFailure(err)).to.equal('incurable');
      expect(incurableReason(err)).to.match(reason);
      const verdict = judge(err);
      expect(verdict.kind).to.equal('fail');
      expect(verdict.kind === 'fail' && verdict.reason).to.match(reason);
    });
  }

  it('when an AppError says it is not retriable, then it is incurable, and a retriable one is not', () => {
    for (const err of [
      new ValidationError([{ field: 'id', message: 'id must be a UUID' }]),
      new ItemNotFoundError('x'),
      new PeerRejectedError('payments', 400, 'bad amount'),
    ]) {
      expect(classifyFailure(err), err.name).to.equal('incurable');
      expect(judge(err)).to.deep.equal({ kind: 'fail', reason: err.message });
    }
  });

  it('when a peer’s answer is unusable (PeerContractError), then a job retries it, and the API answers 502', () => {
    const err = new PeerContractError(
      'payments',
      'payment request answer unusable: "id" is required',
    );

    expect(classifyFailure(err)).to.equal('unavailable');
    expect(judge(err)).to.deep.equal({ kind: 'retry' });
    expect([httpStatusOf(err), err.code]).to.deep.equal([502, 'peer_contract_violation']);
  });

  it('when a peer asks to slow down or BullMQ is told to give up, then judge() keeps its own verdicts', () => {
    expect(judge(new PeerUnavailableError('notifications', '429', 5))).to.deep.equal({
      kind: 'rate-limited',
      ms: 5000,
    });
    expect(judge(new UnrecoverableError('no'))).to.deep.equal({ kind: 'fail', reason: 'no' });
  });

  it('when Postgres is unreachable but the error also carries a data-exception code deeper down, then unavailability wins', () => {
    const err = Object.assign(new Error('Connection terminated unexpectedly'), {
      cause: refused('22P02'),
    });
    expect(classifyFailure(err)).to.equal('unavailable');
  });
});
