import { expect } from 'chai';
import { cleanConditions, type Ledger } from './ledger.js';
import { clientLosses, type ScenarioOutcome } from './schedule.js';

/** Asserts the four conditions on a scenario's ledger, naming what is wrong. */
export function expectBalanced(ledger: Ledger): void {
  const why = ledger.problems.join('\n  ');
  expect(ledger.orders, 'orders accepted').to.be.greaterThan(0);
  for (const [name, actual, wanted] of cleanConditions(ledger)) {
    expect(actual, `${name}\n  ${why}`).to.equal(wanted);
  }
}

/**
 * The ending every scenario promises (isSettled): the client got an answer for every order (none
 * refused, none given up on), and the ledger balanced.
 */
export function expectSettled(outcome: ScenarioOutcome): void {
  for (const [name, count] of clientLosses(outcome)) expect(count, name).to.equal(0);
  expectBalanced(outcome.ledger);
}
