// What the suites share: where the gateway is, a JSON GraphQL call, unique valid users, signing
// up and in (API.md, "Identity and access"), and the operator's `gateway grant-admin`.
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Signs up a new user (anonymous `createUser`); resolves to { user, input }. */
export async function signUp(prefix = 'cl') {
  const input = newUserInput(prefix);
  const { status, body } = await gql(
    'mutation SignUp($input: CreateUserInput!) { createUser(input: $input) { id nickName email } }',
    { input },
  );
  if (!body?.data?.createUser) throw new Error(`createUser failed: ${status} ${JSON.stringify(body)}`);
  return { user: body.data.createUser, input };
}

/** `login`; resolves to { token, expiresAt, user: { id nickName } } or throws with the answer. */
export async function login(loginName, password) {
  const { status, body } = await gql(
    'mutation SignIn($login: String!, $password: String!) { login(login: $login, password: $password) { token expiresAt user { id nickName } } }',
    { login: loginName, password },
  );
  if (!body?.data?.login?.token) throw new Error(`login failed: ${status} ${JSON.stringify(body)}`);
  return body.data.login;
}

/** The header a signed-in caller sends. */
export const bearer = (token) => ({ authorization: `Bearer ${token}` });

/**
 * A new user, signed in: resolves to { user, input, token, headers }. `admin: true` makes it
 * an admin with `gateway grant-admin` before it signs in (so its first request already
 * finds it an admin).
 */
export async function signedUpUser(prefix = 'cl', { admin = false } = {}) {
  const { user, input } = await signUp(prefix);
  if (admin) {
    const granted = await grantAdmin(input.nickName);
    if (granted.code !== 0) throw new Error(`gateway grant-admin ${input.nickName} failed: ${JSON.stringify(granted)}`);
  }
  const { token } = await login(input.nickName, input.password);
  return { user, input, token, headers: bearer(token) };
}

/** The gateway binary scripts/clients.sh started, and the DATA_DIR it runs on. */
export const GATEWAY_BIN = process.env.GATEWAY_BIN;
export const GATEWAY_DATA_DIR = process.env.GATEWAY_DATA_DIR;

/**
 * Runs the operator's command `gateway grant-admin <nickName>` on the running gateway's
 * DATA_DIR (embedded mode, as scripts/clients.sh started it); resolves to { code, stdout, stderr }.
 */
export function grantAdmin(nickName, { timeoutMs = HTTP_TIMEOUT_MS } = {}) {
  if (!GATEWAY_BIN || !GATEWAY_DATA_DIR) {
    throw new Error('GATEWAY_BIN and GATEWAY_DATA_DIR must name the running gateway (scripts/clients.sh sets them)');
  }
  const env = { ...process.env, DATA_DIR: GATEWAY_DATA_DIR, RUST_LOG: 'warn' };
  // Embedded mode, like the gateway clients.sh runs: none of the services' addresses.
  for (const name of ['AMQP_URL', 'REDIS_URL', 'USERS_DATABASE_URL', 'ORDERS_DATABASE_URL']) delete env[name];
  return new Promise((resolve, reject) => {
    execFile(GATEWAY_BIN, ['grant-admin', nickName], { env, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`gateway grant-admin did not run: ${error.message}; stderr: ${stderr}`, { cause: error }));
        return;
      }
      resolve({ code: error ? error.code : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** POSTs one GraphQL request as JSON to another gateway's `graphqlUrl`; as `gql` does. */
export async function gqlAt(graphqlUrl, query, variables = undefined, headers = {}) {
  const response = await fetch(graphqlUrl, {
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

/** How long `startGateway` waits for a gateway of its own to answer /healthz. */
export const GATEWAY_STARTUP_MS = 60_000;

/**
 * Starts a gateway of the suite's own (GATEWAY_BIN, embedded, a fresh DATA_DIR under the
 * temporary directory, a port the kernel picks), with `env` on top: for settings the shared
 * gateway must not have (WS_INIT_TIMEOUT_SECONDS=1, a short TOKEN_TTL_SECONDS...). Resolves,
 * once it prints "GraphQL API ready" and answers /healthz, to { baseUrl, graphqlUrl, dataDir,
 * output(), stop() }; `stop()` sends SIGTERM (SIGKILL after 10 s) and removes its DATA_DIR.
 */
export async function startGateway(env = {}, { startupMs = GATEWAY_STARTUP_MS } = {}) {
  if (!GATEWAY_BIN) throw new Error('GATEWAY_BIN must name the gateway binary (scripts/clients.sh sets it)');
  const dataDir = await mkdtemp(join(tmpdir(), 'clients-gateway-'));
  const childEnv = { ...process.env, RUST_LOG: 'warn', ...env, DATA_DIR: dataDir, LISTEN_ADDR: '127.0.0.1:0' };
  // Embedded, as scripts/clients.sh starts its gateway: none of the services' addresses.
  for (const name of ['AMQP_URL', 'REDIS_URL', 'USERS_DATABASE_URL', 'ORDERS_DATABASE_URL', 'AUTH_SECRET']) {
    if (!(name in env)) delete childEnv[name];
  }
  const child = spawn(GATEWAY_BIN, [], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    }
  };
  const ready = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const found = /GraphQL API ready: GraphiQL at (http:\/\/\S+?)\/graphql/.exec(output);
      if (found) resolve(found[1]);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    exited.then(({ code, signal }) => reject(new Error(`the gateway exited (${code ?? signal}) before it was ready: ${output.slice(-2000)}`)));
  });
  const deadline = Date.now() + startupMs;
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the gateway printed no "GraphQL API ready" within ${startupMs} ms: ${output.slice(-2000)}`)), startupMs);
  });
  try {
    const baseUrl = await Promise.race([ready, timedOut]);
    for (;;) {
      const healthy = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
      if (healthy) break;
      if (Date.now() > deadline) throw new Error(`${baseUrl}/healthz did not answer 200 within ${startupMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { baseUrl, graphqlUrl: `${baseUrl}/graphql`, dataDir, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The gateway's WebSocket URL for `graphqlUrl` (ws://.../graphql). */
export const wsUrlOf = (graphqlUrl = GRAPHQL_URL) => graphqlUrl.replace(/^http/, 'ws');

/** The value of an unlabelled Prometheus metric `name` on `/metrics` of `baseUrl`. */
export async function metric(name, baseUrl = BASE_URL) {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await response.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (response.status !== 200 || !line) throw new Error(`no ${name} on ${baseUrl}/metrics: ${response.status} ${text.slice(0, 500)}`);
  return Number(line.slice(name.length + 1));
}

/**
 * Polls `metric(name)` every 20 ms until `check(value)` holds, at most `ms`; resolves to the
 * value. E.g. `gateway_subscriptions` counts a subscription once the gateway registered it, so
 * a change committed after it reached `before + 1` reaches that subscription.
 */
export async function waitForMetric(name, check, label, { ms = 10_000, baseUrl = BASE_URL } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await metric(name, baseUrl);
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`${label}: ${name} is ${value} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * An observer that records what a stream gives (`values`, `errors`, `completed`) and waits on
 * it: `until(check, label)` resolves to check()'s first truthy value, checked now and on each
 * event, or rejects after `ms` with what was seen.
 */
export function recorder(ms = 10_000) {
  const seen = { values: [], errors: [], completed: false };
  const waiting = new Set();
  const notify = () => {
    for (const attempt of [...waiting]) attempt();
  };
  seen.observer = {
    next: (value) => {
      seen.values.push(value);
      notify();
    },
    error: (error) => {
      seen.errors.push(error);
      notify();
    },
    complete: () => {
      seen.completed = true;
      notify();
    },
  };
  seen.describe = () =>
    JSON.stringify({ values: seen.values, errors: seen.errors.map((e) => (e instanceof Error ? `${e.name}: ${e.message}` : e)), completed: seen.completed });
  seen.until = (check, label, waitMs = ms) =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        let value;
        try {
          value = check();
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (value) {
          finish();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${label}: not within ${waitMs} ms; seen: ${seen.describe()}`));
      }, waitMs);
      const finish = () => {
        clearTimeout(timer);
        waiting.delete(attempt);
      };
      waiting.add(attempt);
      attempt();
    });
  return seen;
}
