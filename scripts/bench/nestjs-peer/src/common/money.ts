/**
 * Exact money as decimal strings with two places; arithmetic in whole cents as BigInt. Never a
 * float, not on the wire and not in the database (numeric columns, read back as text).
 */

/** The largest item price the contract allows: 1,000,000,000.00, in cents. */
export const MAX_PRICE_CENTS = 100_000_000_000n;

const PRICE = /^(\d+)(?:\.(\d{1,2}))?$/;

export type PriceError = 'malformed' | 'out_of_range';

/** "19", "19.9" or "19.90" → 1990n. Refuses signs, exponents, spaces, 3+ places, > 1e9. */
export function parseCents(text: string): bigint | PriceError {
  const match = PRICE.exec(text);
  if (!match) {
    return 'malformed';
  }
  const whole = match[1].replace(/^0+/, '');
  if (whole.length > 10) {
    return 'out_of_range';
  }
  const cents = BigInt(whole || '0') * 100n + BigInt((match[2] ?? '').padEnd(2, '0'));
  return cents > MAX_PRICE_CENTS ? 'out_of_range' : cents;
}

export const PRICE_MESSAGES: Record<PriceError, string> = {
  malformed: 'must be a decimal number such as "19.90", with at most two decimal places',
  out_of_range: 'must be between 0 and 1000000000',
};

/** 5970n → "59.70". */
export function formatCents(cents: bigint): string {
  const text = cents.toString().padStart(3, '0');
  return `${text.slice(0, -2)}.${text.slice(-2)}`;
}

/** A numeric(_, 2) column's text ("59.70") → cents. */
export function centsOf(numeric: string): bigint {
  const [whole, fraction = ''] = numeric.split('.');
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0').slice(0, 2));
}
