import { expect } from 'chai';
import { testConfig } from '../support/api.js';

/** The tests' own configuration helper: a setting nothing reads must not look like one. */
describe('testConfig', () => {
  it('when a test sets a variable that no configuration declares, then it is refused, named', () => {
    expect(() => testConfig({ JOB_ATTEMPTS: '30', JOB_BACKOFF_MS: '100' })).to.throw(
      /no configuration variable is called JOB_ATTEMPTS$/,
    );
  });

  it('when a test sets declared variables, then they are read', () => {
    expect(testConfig({ JOB_BACKOFF_MS: '100' }).jobs.backoffMs).to.equal(100);
  });
});
