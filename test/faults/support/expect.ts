import { expect } from 'chai';
import type { Ledger } from './ledger.js';
import type { ScenarioOutcome } from './schedule.js';

/** Asserts the four conditions on a scenario's ledger, naming what is wrong. */
export function expectBalanced(ledger: Ledger): void {
  const why = ledger.problems.join('\n  ');
  expect(ledger.orders, 'orders accepted').to.be.greaterThan(0);
  expect(ledger.finalStatesCorrect, `final states correct\n  ${why}`).to.equal(ledger.orders);
  expect(ledger.effectsLost, `effects lost\n  ${why}`).to.equal(0);
  expect(ledger.duplicatesApplied, `duplicates applied\n  ${why}`).to.equal(0);
  expect(ledger.unexpectedEffects, `unexpected effects\n  ${why}`).to.equal(0);
  expect(ledger.openOutbox, `open outbox rows\n  ${why}`).to.equal(0);
  expect(ledger.failedOutbox, `failed outbox rows\n  ${why}`).to.equal(0);
  expect(ledger.unprocessedInbox, `unprocessed inbox rows\n  ${why}`).to.equal(0);
}

/**
 * The ending every scenario promises: the client got an answer for every order (none refused,
 * none given up on), and the ledger balanced.
 */
export function expectSettled({ ledger, facts }: ScenarioOutcome): void {
  expect(facts.refused, 'orders refused').to.equal(0);
  expect(facts.unanswered, 'orders never answered').to.equal(0);
  expectBalanced(ledger);
}
