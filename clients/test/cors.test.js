// CORS as API.md's "Browsers and clients" says: the gateway runs with CORS_ALLOWED_ORIGINS set
// to ALLOWED_ORIGIN. First what a browser sends and reads, as raw HTTP (preflight and actual
// requests, from the allowed origin and from another); then a real browser: a page on each
// origin (served by the test itself, no network) calls the gateway with fetch(), sending the
// bearer token of a user the suite signed up and in (API.md, "Identity and access").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOWED_ORIGIN, BASE_URL, DISALLOWED_ORIGIN, GRAPHQL_URL, HTTP_TIMEOUT_MS, signedUpUser } from './helpers.js';
import { openBrowser } from './browser.js';

const list = (value) => (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

async function preflight(origin, requestHeaders = 'content-type, authorization') {
  return fetch(GRAPHQL_URL, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': requestHeaders },
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
}

async function post(origin) {
  return fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: '{ __typename }' }),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
}

const corsHeaders = (response) =>
  Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));

function assertAllowsOrigin(response, what) {
  const acao = response.headers.get('access-control-allow-origin');
  const credentials = response.headers.get('access-control-allow-credentials');
  const shown = JSON.stringify({ status: response.status, ...corsHeaders(response), vary: response.headers.get('vary') });
  if (acao === '*') {
    assert.notEqual(credentials, 'true', `${what}: "*" only without credentials (${shown})`);
  } else {
    assert.equal(acao, ALLOWED_ORIGIN, `${what}: Access-Control-Allow-Origin is the allowed origin (${shown})`);
    assert.ok(list(response.headers.get('vary')).includes('origin'), `${what}: Vary names Origin (${shown})`);
  }
}

test('a preflight from the allowed origin is answered with its Access-Control-* headers', async () => {
  const response = await preflight(ALLOWED_ORIGIN);
  const shown = JSON.stringify({ status: response.status, ...corsHeaders(response) });
  assert.ok(response.status === 200 || response.status === 204, `a preflight answers 200 or 204 (${shown})`);
  assertAllowsOrigin(response, 'preflight');
  const methods = list(response.headers.get('access-control-allow-methods'));
  assert.ok(methods.includes('post') || methods.includes('*'), `Access-Control-Allow-Methods allows POST (${shown})`);
  const allowed = list(response.headers.get('access-control-allow-headers'));
  assert.ok(allowed.includes('content-type') || allowed.includes('*'), `Access-Control-Allow-Headers allows content-type (${shown})`);
  // The Fetch standard never lets "*" stand for Authorization: it must be named.
  assert.ok(allowed.includes('authorization'), `Access-Control-Allow-Headers names authorization (${shown})`);
});

test('a POST from the allowed origin carries Access-Control-Allow-Origin', async () => {
  const response = await post(ALLOWED_ORIGIN);
  assert.equal(response.status, 200);
  assertAllowsOrigin(response, 'POST');
  assert.deepEqual((await response.json()).data, { __typename: 'Query' });
});

test('a GET query from the allowed origin carries Access-Control-Allow-Origin', async () => {
  const response = await fetch(`${GRAPHQL_URL}?query=${encodeURIComponent('{ __typename }')}`, {
    headers: { origin: ALLOWED_ORIGIN, accept: 'application/json' },
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  assert.equal(response.status, 200);
  assertAllowsOrigin(response, 'GET');
});

test('a preflight and a POST from another origin get no Access-Control-* header', async () => {
  for (const response of [await preflight(DISALLOWED_ORIGIN), await post(DISALLOWED_ORIGIN)]) {
    assert.deepEqual(corsHeaders(response), {}, `no CORS header for ${DISALLOWED_ORIGIN} (status ${response.status})`);
  }
});

// --- a real browser -------------------------------------------------------------------------

const gatewayOrigin = new URL(BASE_URL).origin;
let browser;
// The signed-in user whose token the pages send.
let signedIn;
before(async () => {
  signedIn = await signedUpUser('cors');
});
after(async () => browser?.close());

/** Runs fetch() to the gateway from a page on `origin`; resolves to what the page saw. */
async function fetchFromPage(origin) {
  if (!browser) {
    browser = await openBrowser({ allow: (url) => url.origin === gatewayOrigin });
    // The pages here are served by the test, so Chromium counts them as public sites calling
    // a loopback address; this is the grant a person gives at Local Network Access's prompt.
    await browser.context.grantPermissions(['local-network-access']);
  }
  const page = await browser.context.newPage();
  const console = [];
  page.on('console', (message) => console.push(message.text()));
  try {
    // The page of the origin is served here, not fetched (its route wins over the guard).
    await page.route(`${origin}/**`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>app</title>' }),
    );
    await page.goto(`${origin}/`);
    return await page.evaluate(async ({ url, token }) => {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: '{ viewer { nickName } }' }),
        });
        return { ok: true, status: response.status, body: await response.text() };
      } catch (error) {
        return { ok: false, error: String(error) };
      }
    }, { url: GRAPHQL_URL, token: signedIn.token }).then((seen) => ({ ...seen, console }));
  } finally {
    await page.close();
  }
}

test('in Chromium, a page on the allowed origin can call the API with a bearer token', async () => {
  const seen = await fetchFromPage(ALLOWED_ORIGIN);
  assert.ok(seen.ok, `the browser let the page read the answer: ${JSON.stringify(seen)}`);
  assert.equal(seen.status, 200, `the answer: ${JSON.stringify(seen)}`);
  assert.deepEqual(
    JSON.parse(seen.body),
    { data: { viewer: { nickName: signedIn.input.nickName } } },
    'the gateway took the token: viewer is the signed-in user',
  );
});

test('in Chromium, a page on another origin cannot read the API', async () => {
  const seen = await fetchFromPage(DISALLOWED_ORIGIN);
  assert.equal(seen.ok, false, `the browser blocked the answer: ${JSON.stringify(seen)}`);
  assert.ok(
    seen.console.some((line) => /CORS policy/.test(line) && !/address space/.test(line)),
    `it was CORS that blocked it: ${JSON.stringify(seen.console)}`,
  );
});
