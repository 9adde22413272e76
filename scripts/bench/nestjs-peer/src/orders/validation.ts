/** The orders rules of docs/API.md, with ours' field names and messages. */

import { invalid } from '../common/errors';
import { parseCents, PRICE_MESSAGES } from '../common/money';

const CONTROL = /\p{Cc}/u;

export function itemDescription(value: unknown): string {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  const length = [...trimmed].length;
  if (length === 0) throw invalid('itemDescription', 'must not be empty');
  if (length > 500) throw invalid('itemDescription', 'must be at most 500 characters');
  if (CONTROL.test(trimmed)) throw invalid('itemDescription', 'must not contain control characters');
  return trimmed;
}

export function itemQuantity(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw invalid('itemQuantity', 'must be between 1 and 1000000');
  }
  return value;
}

/** A price given as a decimal string → cents. */
export function itemPriceCents(value: unknown): bigint {
  if (typeof value !== 'string') {
    throw invalid('itemPrice', PRICE_MESSAGES.malformed);
  }
  const cents = parseCents(value);
  if (typeof cents === 'string') {
    throw invalid('itemPrice', PRICE_MESSAGES[cents]);
  }
  return cents;
}
