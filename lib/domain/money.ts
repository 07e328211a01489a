/**
 * Money as exact decimal strings outside, bigint minor units inside: never a JS float.
 * The currency scale is 2 (cents), as the peers' contracts use ("2.50").
 */
const SCALE = 2;
const FACTOR = 10n ** BigInt(SCALE);
const DECIMAL = /^(\d{1,16})(?:\.(\d{1,2}))?$/;

export class MoneyFormatError extends Error {
  override name = 'MoneyFormatError';
}

/** "2.5" → 250n. Rejects negatives, exponents, more than two decimals. */
export function parseMoney(text: string): bigint {
  const m = DECIMAL.exec(text);
  if (!m)
    throw new MoneyFormatError(
      `not a money amount with at most ${SCALE} decimals: ${JSON.stringify(text)}`,
    );
  const whole = BigInt(m[1]!);
  const frac = BigInt((m[2] ?? '').padEnd(SCALE, '0'));
  return whole * FACTOR + frac;
}

/** 250n → "2.50". */
export function formatMoney(minor: bigint): string {
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  return `${sign}${abs / FACTOR}.${(abs % FACTOR).toString().padStart(SCALE, '0')}`;
}

/** Unit price × quantity, exactly. */
export function multiplyMoney(price: string, quantity: number): string {
  if (!Number.isSafeInteger(quantity) || quantity < 0)
    throw new MoneyFormatError(`bad quantity ${quantity}`);
  return formatMoney(parseMoney(price) * BigInt(quantity));
}

/** Equality of two decimal strings by value ("5.0" equals "5.00"). */
export function moneyEquals(a: string, b: string): boolean {
  try {
    return parseMoney(a) === parseMoney(b);
  } catch {
    return false;
  }
}
