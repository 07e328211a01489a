import { expect } from 'chai';
import { expectSettled } from './support/expect.js';
import { restartPostgresUnderLoad } from './support/postgres-restart.js';
import { scenario } from './support/schedule.js';

const restartBehindPgBouncer = scenario({
  id: '12',
  title: '12. Postgres restarted mid-run behind PgBouncer (transaction pooling)',
  expectedSeconds: 75,
  run: (ctx) => restartPostgresUnderLoad(ctx, { throughPgBouncer: true }),
});

describe('fault scenario 12: Postgres restarted mid-run behind PgBouncer', function () {
  this.timeout(15 * 60_000);

  it('when Postgres is down behind PgBouncer, then the API answers every request 503 with Retry-After within two seconds and no request hangs', async () => {
    const { facts } = await restartBehindPgBouncer.outcome();

    expect(facts.requestsWhileDown, 'requests made while Postgres was down').to.be.greaterThan(20);
    expect(facts.answered503WhileDown).to.equal(facts.requestsWhileDown);
    expect(facts.withRetryAfter, 'answers with Retry-After').to.equal(facts.requestsWhileDown);
    // PgBouncer refuses a client at once while its server login fails ("server login has been
    // failing"), which the service reads as unavailability; the bound leaves room for a busy CI.
    expect(facts.slowestWhileDownMs).to.be.below(2000);
    expect(facts.hung, 'requests of the load with no answer within 10 s').to.equal(0);
  });

  it('when Postgres is back behind PgBouncer, then every accepted order ends as expected, every effect happened once, and the transactions went through PgBouncer', async () => {
    const outcome = await restartBehindPgBouncer.outcome();
    expectSettled(outcome);
    expect(outcome.facts.transactionsThroughPgBouncer).to.be.greaterThan(1000);
  });
});
