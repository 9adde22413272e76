// The GraphQL over HTTP audit (the graphql-http package's serverAudits) against the running
// /graphql: one test per audit. A MUST must be ok (else the audit says `error`), a SHOULD must
// be ok too (else it says `warn`, which fails here); a MAY may say `notice`, which is printed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { GRAPHQL_URL, HTTP_TIMEOUT_MS } from './helpers.js';

const fetchFn = (input, init = {}) => fetch(input, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
const audits = serverAudits({ url: GRAPHQL_URL, fetchFn });
const counts = {}; // level -> { ok, warn, error, notice }

async function describeFailure(result) {
  let body = '';
  try {
    body = (await result.response.clone().text()).slice(0, 300);
  } catch {}
  return `${result.reason} (status ${result.response?.status}; body ${body})`;
}

for (const audit of audits) {
  const level = audit.name.split(' ')[0];
  test(`${audit.id} ${audit.name}`, async (t) => {
    const result = await audit.fn();
    counts[level] ??= { ok: 0, warn: 0, error: 0, notice: 0 };
    counts[level][result.status] += 1;
    if (result.status === 'ok') return;
    const why = await describeFailure(result);
    if (level === 'MAY') {
      t.diagnostic(`MAY not met (${result.status}): ${why}`);
      console.log(`# audit ${audit.id} MAY ${result.status}: ${audit.name}: ${why}`);
      return;
    }
    assert.fail(`${level} audit is ${result.status}: ${why}`);
  });
}

after(() => {
  for (const level of ['MUST', 'SHOULD', 'MAY']) {
    const c = counts[level] ?? { ok: 0, warn: 0, error: 0, notice: 0 };
    console.log(`# graphql-http audit ${level}: ${c.ok} ok, ${c.warn} warn, ${c.error} error, ${c.notice} notice`);
  }
});
