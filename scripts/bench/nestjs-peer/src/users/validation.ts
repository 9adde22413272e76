/**
 * The users rules of docs/API.md, with the same normalisation and the same field names in
 * BAD_USER_INPUT errors as ours.
 */

import { invalid } from '../common/errors';
import { CreateUserRequest, UpdateUserFields } from '../common/rpc';

const NICK_NAME = /^[A-Za-z0-9_.-]{3,32}$/;
// Control characters: what Rust's char::is_control refuses (Cc).
const CONTROL = /\p{Cc}/u;

export function nickName(value: unknown): string {
  if (typeof value !== 'string' || !NICK_NAME.test(value)) {
    throw invalid('nickName', "nickName must be 3 to 32 letters, digits, '_', '.' or '-'");
  }
  return value;
}

export function fullName(value: unknown): string {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  const length = [...trimmed].length;
  if (length < 1 || length > 120) {
    throw invalid('fullName', 'fullName must be 1 to 120 characters');
  }
  if (CONTROL.test(trimmed)) {
    throw invalid('fullName', 'fullName must not contain control characters');
  }
  return trimmed;
}

export function password(value: unknown, field = 'password'): string {
  const length = typeof value === 'string' ? [...value].length : 0;
  if (typeof value !== 'string' || length < 8 || length > 128) {
    throw invalid(field, `${field} must be 8 to 128 characters`);
  }
  return value;
}

function cpfCheckDigit(digits: number[]): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    sum += digits[i] * (digits.length + 1 - i);
  }
  const rest = sum % 11;
  return rest < 2 ? 0 : 11 - rest;
}

export function cpf(value: unknown): string {
  const bad = () => invalid('cpf', 'cpf must be 11 digits with valid check digits');
  if (typeof value !== 'string') {
    throw bad();
  }
  const normalised = value.replace(/[.\-\s]/g, '');
  if (!/^\d{11}$/.test(normalised)) {
    throw bad();
  }
  const digits = [...normalised].map(Number);
  if (digits.every((digit) => digit === digits[0])) {
    throw invalid('cpf', 'cpf must not be one digit repeated');
  }
  if (cpfCheckDigit(digits.slice(0, 9)) !== digits[9] || cpfCheckDigit(digits.slice(0, 10)) !== digits[10]) {
    throw bad();
  }
  return normalised;
}

export function email(value: unknown): string {
  const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if ([...text].length > 254) {
    throw invalid('email', 'email must be at most 254 characters');
  }
  if (/[\s\p{Cc}]/u.test(text)) {
    throw invalid('email', 'email must not contain spaces');
  }
  const at = text.indexOf('@');
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  const labels = domain.split('.');
  if (at <= 0 || domain.includes('@') || labels.length < 2 || labels.some((label) => label === '')) {
    throw invalid('email', 'email must look like name@example.com');
  }
  return `${local}@${domain}`;
}

export function phoneNumber(value: unknown): string {
  const phone = typeof value === 'string' ? value.replace(/[\s\-()]/g, '') : '';
  if (!/^\+?\d{10,15}$/.test(phone)) {
    throw invalid('phoneNumber', "phoneNumber must be an optional '+' and 10 to 15 digits");
  }
  return phone;
}

export interface NewUser {
  nickName: string;
  nickNameKey: string;
  fullName: string;
  password: string;
  cpf: string;
  email: string;
  phoneNumber: string;
}

export function newUser(input: CreateUserRequest): NewUser {
  const nick = nickName(input.nickName);
  return {
    nickName: nick,
    nickNameKey: nick.toLowerCase(),
    fullName: fullName(input.fullName),
    password: password(input.password),
    cpf: cpf(input.cpf),
    email: email(input.email),
    phoneNumber: phoneNumber(input.phoneNumber),
  };
}

/** The fields given (null or absent: unchanged), validated, as columns of the entity. */
export function userChanges(input: UpdateUserFields): Record<string, string> {
  const changes: Record<string, string> = {};
  if (input.nickName != null) {
    changes.nickName = nickName(input.nickName);
    changes.nickNameKey = changes.nickName.toLowerCase();
  }
  if (input.fullName != null) changes.fullName = fullName(input.fullName);
  if (input.cpf != null) changes.cpf = cpf(input.cpf);
  if (input.email != null) changes.email = email(input.email);
  if (input.phoneNumber != null) changes.phoneNumber = phoneNumber(input.phoneNumber);
  return changes;
}
