import { expect } from 'chai';
import {
  formatMoney,
  moneyEquals,
  MoneyFormatError,
  multiplyMoney,
  parseMoney,
} from '../../lib/domain/money.js';

describe('money', () => {
  it('when multiplying, then the result is exact where floats are not', () => {
    expect(0.1 * 3).not.to.equal(0.3); // the reason this module exists
    expect(multiplyMoney('0.10', 3)).to.equal('0.30');
    expect(multiplyMoney('19.99', 10000)).to.equal('199900.00');
    expect(multiplyMoney('2.5', 2)).to.equal('5.00');
    expect(multiplyMoney('9999999999999999.99', 10000)).to.equal('99999999999999999900.00');
  });

  it('when parsing, then whole and fractional forms give minor units', () => {
    expect(parseMoney('2')).to.equal(200n);
    expect(parseMoney('2.5')).to.equal(250n);
    expect(parseMoney('0.07')).to.equal(7n);
    expect(formatMoney(7n)).to.equal('0.07');
    expect(formatMoney(-150n)).to.equal('-1.50');
  });

  for (const bad of ['', '-1.00', '1.234', '1e3', ' 1.00', '1,00', 'NaN', '.5']) {
    it(`when parsing ${JSON.stringify(bad)}, then it refuses`, () => {
      expect(() => parseMoney(bad)).to.throw(MoneyFormatError);
    });
  }

  it('when comparing, then equal values in different forms are equal and garbage is not', () => {
    expect(moneyEquals('5', '5.00')).to.equal(true);
    expect(moneyEquals('5.01', '5.00')).to.equal(false);
    expect(moneyEquals('abc', '5.00')).to.equal(false);
  });

  it('when the quantity is not a safe non-negative integer, then it refuses', () => {
    expect(() => multiplyMoney('1.00', 1.5)).to.throw(MoneyFormatError);
    expect(() => multiplyMoney('1.00', -1)).to.throw(MoneyFormatError);
  });
});
