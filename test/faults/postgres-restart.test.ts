import { expect } from 'chai';
import { expectSettled } from './support/expect.js';
import { restartPostgresUnderLoad } from './support/postgres-restart.js';
import { scenario } from './support/schedule.js';

const postgresRestart = scenario({
  id: '3',
  title: '3. Postgres restarted mid-run (crash stop, 10 s down)',
  expectedSeconds: 75,
  run: (ctx) => restartPostgresUnderLoad(ctx),
});

describe('fault scenario 3: Postgres restarted mid-run', function () {
  this.timeout(15 * 60_000);

  it('when Postgres is down, then the API answers every request 503 with Retry-After within a second and no request hangs', async () => {
    const { facts } = await postgresRestart.outcome();

    expect(facts.requestsWhileDown, 'requests made while Postgres was down').to.be.greaterThan(50);
    expect(facts.postsWhileDown, 'new orders among them').to.be.greaterThan(25);
    expect(facts.answered503WhileDown).to.equal(facts.requestsWhileDown);
    expect(facts.withRetryAfter, 'answers with Retry-After').to.equal(facts.requestsWhileDown);
    expect(facts.slowestWhileDownMs).to.be.below(1000);
    expect(facts.hung, 'requests of the load with no answer within 10 s').to.equal(0);
  });

  it('when Postgres is back, then every accepted order ends as expected and every effect happened once', async () => {
    const outcome = await postgresRestart.outcome();
    expectSettled(outcome);
  });
});
