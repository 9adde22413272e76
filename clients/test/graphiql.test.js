// GraphiQL in headless Chromium with no internet: every request whose origin is not the
// gateway's is aborted. The page must load from the gateway's own assets, show its editor,
// take a typed query, run it, and show the answer; it must have a headers editor, and a bearer
// token typed there signs the queries in (API.md, "Identity and access"), subscriptions too
// (over GraphiQL's own graphql-ws WebSocket, "Live updates").
//
// Written against GraphiQL's own class names (.graphiql-query-editor, .graphiql-response,
// .graphiql-editor-tools), which GraphiQL 2 to 5 share, over CodeMirror 5 or Monaco.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, GRAPHQL_URL, signedUpUser, gql } from './helpers.js';
import { openBrowser, BROWSER_TIMEOUT_MS } from './browser.js';

const gatewayOrigin = new URL(BASE_URL).origin;
let browser;
let page;
const pageErrors = [];
// Set once the editor showed; the tests that need it fail at once without it, not after a wait.
let editorShown = false;
const needEditor = () => assert.ok(editorShown, 'GraphiQL never showed its query editor (see the first test)');
// A user signed up and in, whose token goes into the headers editor.
let signedIn;

before(async () => {
  signedIn = await signedUpUser('graphiql');
  browser = await openBrowser({ allow: (url) => url.origin === gatewayOrigin });
  page = await browser.context.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  const response = await page.goto(GRAPHQL_URL, { waitUntil: 'load' });
  console.log(`# GET /graphql in Chromium: ${response?.status()} ${response?.headers()['content-type']}`);
});

after(async () => {
  if (browser?.blocked.length) console.log(`# requests GraphiQL tried outside the gateway: ${browser.blocked.join(' ')}`);
  if (pageErrors.length) console.log(`# page errors: ${pageErrors.join(' | ')}`);
  await browser?.close();
});

/** The text of an editor, CodeMirror 5 or Monaco, with non-breaking spaces as spaces. */
async function editorText(selector) {
  return page.locator(selector).first().evaluate((root) => {
    const cm = root.querySelector('.CodeMirror');
    if (cm?.CodeMirror) return cm.CodeMirror.getValue();
    const lines = root.querySelector('.view-lines');
    return (lines ?? root).innerText.replace(/\u00a0/g, ' ');
  });
}

/**
 * Opens the Headers tab and types into its editor one header, `{"name": "value"}`, or nothing
 * (no headers) when `header` is null. Resolves to the editor's text.
 */
async function typeHeaders(header) {
  const tab = page.getByRole('tab', { name: /^headers$/i }).or(page.getByRole('button', { name: /^headers$/i }));
  await tab.first().waitFor({ state: 'visible', timeout: BROWSER_TIMEOUT_MS });
  await tab.first().click();
  const editor = page
    .locator('.graphiql-editor-tool .CodeMirror, .graphiql-editor-tool .monaco-editor')
    .filter({ visible: true });
  await editor.first().waitFor({ state: 'visible', timeout: BROWSER_TIMEOUT_MS });
  await editor.first().click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  const text = async () =>
    (await editor.first().evaluate((root) => root.CodeMirror?.getValue() ?? root.innerText)).replace(/\u00a0/g, ' ');
  if (header) {
    const [name, value] = header;
    // Typed without braces or quotes of its own to close: the editor adds those it auto-closes.
    await page.keyboard.type(`{"${name}": "${value}`);
    if (!/\}\s*$/.test(await text())) await page.keyboard.type('"}');
  }
  return text();
}

/** Types `query` into the query editor (replacing what is there) and reads it back. */
async function typeQuery(query) {
  const input = page.locator('.graphiql-query-editor .CodeMirror, .graphiql-query-editor .monaco-editor').first();
  await input.waitFor({ state: 'visible', timeout: BROWSER_TIMEOUT_MS });
  await input.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  // Typed without its closing braces: the editor may close them itself; the rest are typed.
  const open = query.replace(/[\s}]+$/, ' ');
  await page.keyboard.type(open);
  const typed = async () => (await editorText('.graphiql-query-editor')).trim();
  const missing = (open.match(/\{/g) ?? []).length - ((await typed()).match(/\}/g) ?? []).length;
  if (missing > 0) await page.keyboard.type('} '.repeat(missing).trim());
  await page.keyboard.press('Escape'); // closes an autocomplete list, if one is open
  return typed();
}

/** Waits until the result pane's text matches `answer`; fails showing what it shows. */
async function waitForResult(answer) {
  await page
    .waitForFunction(
      (source) => {
        const pane = document.querySelector('.graphiql-response');
        return pane && new RegExp(source).test(pane.innerText.replace(/\u00a0/g, ' '));
      },
      answer.source,
      { timeout: BROWSER_TIMEOUT_MS },
    )
    .catch(async (error) => {
      const shown = await editorText('.graphiql-response').catch(() => '(no result pane)');
      throw new Error(`the result pane did not show ${answer}; it shows: ${shown.slice(0, 300)}`, { cause: error });
    });
  assert.match(await editorText('.graphiql-response'), answer);
}

test('GraphiQL loads with no internet and shows its query editor', async () => {
  const editor = page.locator('.graphiql-query-editor');
  await editor.first().waitFor({ state: 'visible', timeout: BROWSER_TIMEOUT_MS }).catch(async (error) => {
    const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 200);
    throw new Error(`no query editor within ${BROWSER_TIMEOUT_MS} ms; the page shows "${text}"; blocked: ${browser.blocked.join(' ')}`, { cause: error });
  });
  await page.locator('.graphiql-query-editor .CodeMirror, .graphiql-query-editor .monaco-editor').first().waitFor();
  editorShown = true;
});

test('a query typed into GraphiQL runs and its answer shows in the result pane', async () => {
  needEditor();
  const input = page.locator('.graphiql-query-editor .CodeMirror, .graphiql-query-editor .monaco-editor').first();
  await input.waitFor({ state: 'visible', timeout: BROWSER_TIMEOUT_MS });
  await input.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type('{ __typename }');
  // Editors may close the brace themselves and then type over it; read back what is there.
  assert.match((await editorText('.graphiql-query-editor')).trim(), /^\{ __typename \}+$/, 'the query as typed');
  await page.keyboard.press('Escape'); // closes an autocomplete list, if one is open
  await page.keyboard.press('Control+Enter');
  await waitForResult(/"__typename"\s*:\s*"Query"/);
});

test('GraphiQL has a headers editor, and the headers typed there are sent', async () => {
  needEditor();
  const requestId = `graphiql-${Date.now()}`;
  const typed = await typeHeaders(['x-request-id', requestId]);
  const sent = page.waitForRequest(
    (request) => request.method() === 'POST' && request.headers()['x-request-id'] === requestId,
    { timeout: BROWSER_TIMEOUT_MS },
  );
  await page.locator('.graphiql-query-editor .CodeMirror, .graphiql-query-editor .monaco-editor').first().click();
  await page.keyboard.press('Control+Enter');
  const request = await sent.catch((error) => {
    throw new Error(`no request carried the header typed in the headers editor (${JSON.stringify(typed)})`, { cause: error });
  });
  const response = await request.response();
  assert.equal(response?.headers()['x-request-id'], requestId, 'the gateway answered with that request id');
});

/** Whether a request GraphiQL sent is the run of `{ viewer ... }` (not its introspection). */
const isViewerQuery = (request) => request.method() === 'POST' && /viewer/.test(request.postData() ?? '');

test('with {"Authorization": "Bearer <token>"} in the headers editor, { viewer { nickName } } shows the user', async () => {
  needEditor();
  const typed = await typeHeaders(['Authorization', `Bearer ${signedIn.token}`]);
  assert.deepEqual(JSON.parse(typed), { Authorization: `Bearer ${signedIn.token}` }, 'the headers as typed');
  assert.equal((await typeQuery('{ viewer { nickName } }')).replace(/\s+/g, ''), '{viewer{nickName}}', 'the query as typed');
  const sent = page.waitForRequest(isViewerQuery, { timeout: BROWSER_TIMEOUT_MS });
  await page.keyboard.press('Control+Enter');
  const request = await sent;
  assert.equal(request.headers().authorization, `Bearer ${signedIn.token}`, 'GraphiQL sent the token');
  const nickName = signedIn.input.nickName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await waitForResult(new RegExp(`"viewer"\\s*:\\s*\\{\\s*"nickName"\\s*:\\s*"${nickName}"`));
});

test('without the header, { viewer { nickName } } shows null', async () => {
  needEditor();
  assert.equal((await typeHeaders(null)).trim(), '', 'the headers editor is empty');
  assert.equal((await typeQuery('{ viewer { nickName } }')).replace(/\s+/g, ''), '{viewer{nickName}}', 'the query as typed');
  const sent = page.waitForRequest(isViewerQuery, { timeout: BROWSER_TIMEOUT_MS });
  await page.keyboard.press('Control+Enter');
  const request = await sent;
  assert.equal(request.headers().authorization, undefined, 'no Authorization header was sent');
  await waitForResult(/"viewer"\s*:\s*null/);
});

/** Whether the result pane comes to match `answer` within `timeout` ms. */
const resultShows = (answer, timeout) =>
  page
    .waitForFunction(
      (source) => {
        const pane = document.querySelector('.graphiql-response');
        return pane && new RegExp(source).test(pane.innerText.replace(/\u00a0/g, ' '));
      },
      answer.source,
      { timeout },
    )
    .then(
      () => true,
      () => false,
    );

test('a subscription typed into GraphiQL, with the token in the headers editor, shows a change made over HTTP', async () => {
  needEditor();
  // GraphiQL's fetcher runs subscriptions over graphql-ws at the gateway's ws:// /graphql.
  const sockets = [];
  let acknowledged;
  const ack = new Promise((resolve) => (acknowledged = resolve));
  const onSocket = (socket) => {
    const seen = { url: socket.url(), sent: [], received: [], closed: false };
    sockets.push(seen);
    socket.on('framesent', (frame) => seen.sent.push(String(frame.payload)));
    socket.on('framereceived', (frame) => {
      seen.received.push(String(frame.payload));
      if (/"connection_ack"/.test(String(frame.payload))) acknowledged(seen);
    });
    socket.on('close', () => (seen.closed = true));
  };
  page.on('websocket', onSocket);
  const shown = () => JSON.stringify(sockets).replaceAll(signedIn.token, '<token>');
  const typed = await typeHeaders(['Authorization', `Bearer ${signedIn.token}`]);
  assert.deepEqual(JSON.parse(typed), { Authorization: `Bearer ${signedIn.token}` }, 'the headers as typed');
  const query = 'subscription { userChanges { kind user { fullName } } }';
  assert.equal((await typeQuery(query)).replace(/\s+/g, ''), query.replace(/\s+/g, ''), 'the subscription as typed');
  // GraphiQL parses the editor's text a moment after an edit (debounced), and its fetcher picks
  // WebSocket or HTTP from that parse: run before it and the subscription goes out as the
  // previous document was, over HTTP POST. Wait for the parse to see it, as a person's pause
  // would (CodeMirror 5 keeps it on the editor as `documentAST`).
  await page
    .waitForFunction(
      () => {
        const editor = document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror;
        return !editor || editor.documentAST?.definitions?.some((definition) => definition.operation === 'subscription');
      },
      null,
      { timeout: BROWSER_TIMEOUT_MS },
    )
    .catch((error) => {
      throw new Error('GraphiQL never parsed the typed subscription (documentAST)', { cause: error });
    });
  await page.keyboard.press('Control+Enter');

  // The socket is acknowledged: GraphiQL sent a connection_init the gateway took.
  let timer;
  const socket = await Promise.race([
    ack,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`GraphiQL's WebSocket was not acknowledged within ${BROWSER_TIMEOUT_MS} ms: ${shown()}`)), BROWSER_TIMEOUT_MS);
    }),
  ])
    .catch(async (error) => {
      const pane = await editorText('.graphiql-response').catch(() => '(no result pane)');
      throw new Error(`${error.message}; the result pane shows: ${pane.slice(0, 300)}`, { cause: error });
    })
    .finally(() => clearTimeout(timer));
  assert.equal(new URL(socket.url).origin, new URL(BASE_URL).origin.replace(/^http/, 'ws'), 'the socket goes to the gateway');
  const init = JSON.parse(socket.sent[0]);
  console.log(`# GraphiQL's connection_init: ${socket.sent[0].replaceAll(signedIn.token, '<token>')}`);
  assert.deepEqual(init, { type: 'connection_init', payload: { Authorization: `Bearer ${signedIn.token}` } }, 'the headers editor\'s headers are its connectionParams');

  // In place once a change of a write made over HTTP shows (made again until one does).
  const deadline = Date.now() + BROWSER_TIMEOUT_MS;
  const rename = (fullName) =>
    gql('mutation R($id: UUID!, $fullName: String!) { updateUser(id: $id, input: { fullName: $fullName }) { id } }', { id: signedIn.user.id, fullName }, signedIn.headers);
  for (let n = 1; ; n += 1) {
    const { body } = await rename(`GraphiQL Probe ${n}`);
    assert.equal(body?.data?.updateUser?.id, signedIn.user.id, JSON.stringify(body));
    if (await resultShows(/"fullName"\s*:\s*"GraphiQL Probe \d+"/, 1000)) break;
    if (Date.now() > deadline) throw new Error(`no change of ${n} writes showed in the result pane; frames: ${shown()}`);
  }
  await rename('Seen In GraphiQL');
  await waitForResult(/"fullName"\s*:\s*"Seen In GraphiQL"/);
  assert.match(await editorText('.graphiql-response'), /"kind"\s*:\s*"UPDATED"/);
  assert.ok(sockets.every((s) => !s.closed), `the socket stays open: ${shown()}`);
  page.off('websocket', onSocket);
});

test('GraphiQL asks for nothing outside the gateway', async () => {
  assert.deepEqual(browser.blocked, [], 'every asset comes from the gateway');
});
