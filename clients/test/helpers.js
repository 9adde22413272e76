// What the suites share: where the gateway is, a JSON GraphQL call, unique valid users, and
// whether sign-in exists yet (API.md, "Identity and access").
import { randomBytes, randomInt } from 'node:crypto';

/** The running gateway, e.g. http://127.0.0.1:43121 (set by scripts/clients.sh). */
export const BASE_URL = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:8000').replace(/\/$/, '');
export const GRAPHQL_URL = `${BASE_URL}/graphql`;
/** The origin the gateway was started with in CORS_ALLOWED_ORIGINS. */
export const ALLOWED_ORIGIN = process.env.CORS_TEST_ORIGIN ?? 'http://localhost:5173';
/** An origin it was not started with. */
export const DISALLOWED_ORIGIN = process.env.CORS_OTHER_ORIGIN ?? 'http://localhost:5174';

/** Every HTTP call of the suites gives up after this long. */
export const HTTP_TIMEOUT_MS = 15_000;

/** POSTs one GraphQL request as JSON; resolves to { status, headers, body }. */
export async function gql(query, variables = undefined, headers = {}) {
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body };
}

/** The codes of a response's errors. */
export const codes = (body) => (body?.errors ?? []).map((error) => error?.extensions?.code);

/** A CPF with valid check digits, not all digits equal. */
export function cpf() {
  for (;;) {
    const digits = Array.from({ length: 9 }, () => randomInt(10));
    if (digits.every((d) => d === digits[0])) continue;
    for (const length of [9, 10]) {
      const sum = digits.slice(0, length).reduce((acc, d, i) => acc + d * (length + 1 - i), 0);
      const rest = (sum * 10) % 11;
      digits.push(rest === 10 ? 0 : rest);
    }
    return digits.join('');
  }
}

/** A CreateUserInput nobody has yet. */
export function newUserInput(prefix = 'cl') {
  const tag = randomBytes(6).toString('hex');
  return {
    nickName: `${prefix}_${tag}`,
    fullName: `Client Suite ${tag}`,
    password: `pw-${tag}-secret`,
    cpf: cpf(),
    email: `${prefix}.${tag}@Example.COM`,
    phoneNumber: `+55 (11) 9${String(randomInt(10_000_000, 99_999_999))}`,
  };
}

let mutationFields;
/** The names of the Mutation type's fields, by introspection (once per process). */
export async function mutationFieldNames() {
  if (!mutationFields) {
    const { body } = await gql('{ __type(name: "Mutation") { fields { name } } }');
    mutationFields = new Set((body?.data?.__type?.fields ?? []).map((field) => field.name));
  }
  return mutationFields;
}

/** Whether this gateway has sign-in (`login`), as API.md's "Identity and access" adds. */
export async function hasLogin() {
  return (await mutationFieldNames()).has('login');
}
