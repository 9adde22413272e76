// Apollo Client (v4) as an application uses it: BatchHttpLink for a createUser mutation and
// batched reads by id, users pagination, sign-in with an auth link (SetContextLink) and
// logout, and automatic persisted queries (createPersistedQueryLink, SHA-256 from node:crypto)
// over POST and over GET, and live updates: `GraphQLWsLink` over a `graphql-ws` client (`ws`),
// split from the HTTP link by operation type. Every request and answer is recorded through a
// custom fetch, so the tests assert what went on the wire.
//
// API.md's "Identity and access": the suite signs up, signs in with `login` and sends
// `Authorization: Bearer <token>` on every read; listing `users` takes an admin, made with the
// operator's command `gateway grant-admin` (on the running gateway's DATA_DIR, which
// scripts/clients.sh passes in GATEWAY_BIN and GATEWAY_DATA_DIR).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { BatchHttpLink } from '@apollo/client/link/batch-http';
import { SetContextLink } from '@apollo/client/link/context';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  GRAPHQL_URL,
  HTTP_TIMEOUT_MS,
  bearer,
  codes,
  gql as rawGql,
  grantAdmin,
  login,
  metric,
  newUserInput,
  recorder,
  signUp,
  signedUpUser,
  waitForMetric,
  wsUrlOf,
} from './helpers.js';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** A fetch that records each request (method, URL, parsed body) and its parsed answer. */
function recordingFetch() {
  const calls = [];
  const fetchFn = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const method = (init.method ?? 'GET').toUpperCase();
    const call = { method, url, body: init.body ? JSON.parse(init.body) : undefined, headers: init.headers };
    calls.push(call);
    const response = await fetch(input, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    call.status = response.status;
    const text = await response.clone().text();
    try {
      call.answer = JSON.parse(text);
    } catch {
      call.answer = text;
    }
    return response;
  };
  return { calls, fetchFn };
}

const client = (link) =>
  new ApolloClient({ link, cache: new InMemoryCache(), defaultOptions: { query: { fetchPolicy: 'network-only' } } });

/** The Authorization header a recorded request carried ('' for none). */
const authorizationOf = (call) => {
  const headers = call.headers instanceof Headers ? Object.fromEntries(call.headers) : (call.headers ?? {});
  const name = Object.keys(headers).find((key) => key.toLowerCase() === 'authorization');
  return name ? String(headers[name]) : '';
};

/** The codes of an Apollo result's GraphQL errors (errorPolicy: 'all'). */
const apolloCodes = (result) => (result.error?.errors ?? []).map((e) => e.extensions?.code);

const USER_FIELDS = 'id nickName fullName cpf email phoneNumber createdAt updatedAt';
const CREATE_USER = gql(`mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { ${USER_FIELDS} } }`);
const LOGIN = gql(
  'mutation Login($login: String!, $password: String!) { login(login: $login, password: $password) { token expiresAt user { id nickName } } }',
);
const LOGOUT = gql('mutation Logout { logout }');
const USER_BY_ID = gql(`query UserById($id: UUID!) { user(id: $id) { ${USER_FIELDS} } }`);
const USER_BY_NICK = gql('query UserByNick($nickName: String!) { userByNickName(nickName: $nickName) { id nickName } }');
const USERS_PAGE = gql(`query UsersPage($first: Int, $after: String) {
  users(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id nickName } }
}`);

// What the suite made, for the tests after the first: users listed in order of creation, the
// first one's token, and the admin that `gateway grant-admin` made.
const made = { users: [], inputs: [], token: null, admin: null };

/** Headers the first user, signed in, sends. */
const authHeaders = () => (made.token ? bearer(made.token) : {});

test('BatchHttpLink: createUser, login, then user and userByNickName in one batched POST', async () => {
  const { calls, fetchFn } = recordingFetch();
  const anonymous = client(new BatchHttpLink({ uri: GRAPHQL_URL, fetch: fetchFn, batchInterval: 20, batchMax: 10 }));

  const input = newUserInput('apollo');
  const { data: created } = await anonymous.mutate({ mutation: CREATE_USER, variables: { input } });
  const user = created.createUser;
  assert.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv7 id');
  assert.equal(user.nickName, input.nickName);
  assert.equal(user.email, input.email.toLowerCase(), 'email stored lower case');
  assert.equal(user.phoneNumber, input.phoneNumber.replace(/[\s()-]/g, ''), 'phone separators removed');
  assert.equal(user.cpf, input.cpf);
  assert.ok(!Number.isNaN(Date.parse(user.createdAt)), 'createdAt is RFC 3339');
  made.users.push(user);
  made.inputs.push(input);

  // login takes the nickName ignoring case, or the email.
  const { data } = await anonymous.mutate({
    mutation: LOGIN,
    variables: { login: input.nickName.toUpperCase(), password: input.password },
  });
  assert.equal(data.login.user.id, user.id, 'login answers the user it signed in');
  assert.ok(data.login.token, 'login answers a token');
  assert.ok(Date.parse(data.login.expiresAt) > Date.now(), 'the token expires in the future');
  made.token = data.login.token;
  const byEmail = await anonymous.mutate({ mutation: LOGIN, variables: { login: input.email, password: input.password } });
  assert.equal(byEmail.data.login.user.id, user.id, 'login by email signs in the same user');

  const reader = client(
    new BatchHttpLink({ uri: GRAPHQL_URL, fetch: fetchFn, headers: authHeaders(), batchInterval: 20, batchMax: 10 }),
  );
  const before = calls.length;
  const [byId, byNick] = await Promise.all([
    reader.query({ query: USER_BY_ID, variables: { id: user.id } }),
    reader.query({ query: USER_BY_NICK, variables: { nickName: input.nickName.toUpperCase() } }),
  ]);
  assert.deepEqual({ ...byId.data.user, __typename: undefined }, { ...user, __typename: undefined });
  assert.equal(byNick.data.userByNickName.id, user.id, 'userByNickName ignores case');

  const batched = calls.slice(before);
  assert.equal(batched.length, 1, 'the two queries went out as one HTTP request');
  assert.equal(batched[0].method, 'POST');
  assert.ok(Array.isArray(batched[0].body) && batched[0].body.length === 2, 'its body is a JSON array of two operations');
  assert.ok(Array.isArray(batched[0].answer) && batched[0].answer.length === 2, 'its answer is a JSON array of two results');
  assert.equal(authorizationOf(batched[0]), `Bearer ${made.token}`, 'the token was sent');
});

test('an auth link: signed in a query answers; without the token UNAUTHENTICATED; after logout the token is refused', async () => {
  const { calls, fetchFn } = recordingFetch();
  const http = new HttpLink({ uri: GRAPHQL_URL, fetch: fetchFn });
  const anonymous = client(http);
  const input = newUserInput('authlink');
  const { data: created } = await anonymous.mutate({ mutation: CREATE_USER, variables: { input } });
  const user = created.createUser;

  // The usual auth link: the token the app holds, added to every request's headers.
  let token = null;
  const auth = new SetContextLink((prevContext) => ({
    headers: { ...prevContext.headers, ...(token ? bearer(token) : {}) },
  }));
  const signedIn = client(ApolloLink.from([auth, http]));
  const { data: signIn } = await signedIn.mutate({ mutation: LOGIN, variables: { login: input.nickName, password: input.password } });
  token = signIn.login.token;
  assert.equal(signIn.login.user.id, user.id);

  const mine = await signedIn.query({ query: USER_BY_ID, variables: { id: user.id }, errorPolicy: 'all' });
  assert.equal(mine.error, undefined, `a signed-in user reads themself: ${JSON.stringify(calls.at(-1)?.answer)}`);
  assert.equal(mine.data.user.id, user.id);
  assert.equal(mine.data.user.nickName, input.nickName);
  assert.equal(authorizationOf(calls.at(-1)), `Bearer ${token}`, 'the auth link sent the token');

  const without = await anonymous.query({ query: USER_BY_ID, variables: { id: user.id }, errorPolicy: 'all' });
  assert.equal(authorizationOf(calls.at(-1)), '', 'no token was sent');
  assert.deepEqual(apolloCodes(without), ['UNAUTHENTICATED'], `the same query without a token: ${JSON.stringify(calls.at(-1)?.answer)}`);
  assert.equal(without.data?.user ?? null, null, 'and no user');

  const { data: out } = await signedIn.mutate({ mutation: LOGOUT });
  assert.equal(out.logout, true, 'logout answers true');
  const after = await signedIn.query({ query: USER_BY_ID, variables: { id: user.id }, errorPolicy: 'all' });
  assert.equal(authorizationOf(calls.at(-1)), `Bearer ${token}`, 'the same token was sent again');
  assert.deepEqual(apolloCodes(after), ['UNAUTHENTICATED'], `the token after logout: ${JSON.stringify(calls.at(-1)?.answer)}`);
  assert.equal(after.data?.user ?? null, null, 'and no user');
});

test('gateway grant-admin: 1 and a message for an unknown nickName, 0 for a known one, whose user then lists users', async () => {
  const unknown = `nobody_${randomBytes(6).toString('hex')}`;
  const missing = await grantAdmin(unknown);
  assert.equal(missing.code, 1, `exit code for an unknown nickName: ${JSON.stringify(missing)}`);
  assert.ok(`${missing.stdout}${missing.stderr}`.includes(unknown), `the message names the nickName: ${JSON.stringify(missing)}`);

  const { user, input } = await signUp('admin');
  // Before the user's first request with a token: the gateway then finds it an admin at once.
  const granted = await grantAdmin(input.nickName);
  assert.equal(granted.code, 0, `exit code for a known nickName: ${JSON.stringify(granted)}`);
  assert.ok(`${granted.stdout}${granted.stderr}`.includes(input.nickName), `it says what it did: ${JSON.stringify(granted)}`);

  const { token } = await login(input.nickName, input.password);
  made.admin = { user, input, token };
  const { status, body } = await rawGql('{ users(first: 1) { totalCount nodes { id } } }', undefined, bearer(token));
  assert.equal(status, 200);
  assert.equal(body.errors, undefined, `the admin lists users: ${JSON.stringify(body)}`);
  assert.ok(body.data.users.totalCount >= 2, 'the list counts at least the users made here');
});

test('users pagination: FORBIDDEN for a user, every page for an admin', async () => {
  assert.ok(made.users.length > 0, 'the first test created a user');
  assert.ok(made.admin, 'the grant-admin test made an admin');
  const { fetchFn } = recordingFetch();
  const anonymous = client(new HttpLink({ uri: GRAPHQL_URL, fetch: fetchFn }));
  for (let i = 0; i < 2; i += 1) {
    const input = newUserInput('page');
    const { data } = await anonymous.mutate({ mutation: CREATE_USER, variables: { input } });
    made.users.push(data.createUser);
    made.inputs.push(input);
  }

  // API.md: only admins may list `users`; a signed-in user gets FORBIDDEN.
  const user = client(new HttpLink({ uri: GRAPHQL_URL, fetch: fetchFn, headers: authHeaders() }));
  const refused = await user.query({ query: USERS_PAGE, variables: { first: 2 }, errorPolicy: 'all' });
  assert.deepEqual(apolloCodes(refused), ['FORBIDDEN'], 'users for a non-admin is FORBIDDEN');

  // The admin walks every page of 2, oldest first.
  const admin = client(new HttpLink({ uri: GRAPHQL_URL, fetch: fetchFn, headers: bearer(made.admin.token) }));
  const seen = [];
  let after = null;
  let totalCount;
  for (let page = 0; page < 1000; page += 1) {
    const { data } = await admin.query({ query: USERS_PAGE, variables: { first: 2, after } });
    const { nodes, pageInfo } = data.users;
    totalCount ??= data.users.totalCount;
    assert.equal(data.users.totalCount, totalCount, 'totalCount is the same on every page');
    assert.ok(nodes.length <= 2, 'a page holds at most `first` users');
    seen.push(...nodes.map((n) => n.id));
    if (!pageInfo.hasNextPage) break;
    assert.equal(nodes.length, 2, 'a page before the last is full');
    assert.ok(pageInfo.endCursor, 'a page with a next page has an endCursor');
    after = pageInfo.endCursor;
  }
  assert.equal(new Set(seen).size, seen.length, 'no user is on two pages');
  assert.equal(seen.length, totalCount, 'the pages hold totalCount users');
  assert.ok(seen.includes(made.admin.user.id), 'the admin is listed too');
  const ours = seen.filter((id) => made.users.some((u) => u.id === id));
  assert.deepEqual(ours, made.users.map((u) => u.id), 'the users created here are listed, oldest first');
});

/** Runs the same new query twice through a persisted-query link and returns what went out. */
async function persistedQueryRound(useGETForHashedQueries) {
  assert.ok(made.users.length > 0, 'the first test created a user');
  const { calls, fetchFn } = recordingFetch();
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: GRAPHQL_URL, fetch: fetchFn, headers: authHeaders() }),
  );
  const apq = client(link);
  // A name of its own makes the document, and so its hash, new to the gateway.
  const name = `Apq${useGETForHashedQueries ? 'Get' : 'Post'}_${randomBytes(6).toString('hex')}`;
  const query = gql(`query ${name}($id: UUID!) { user(id: $id) { id nickName } }`);
  const [user] = made.users;
  // What went on the wire is asserted first (assertPersistedQueryFlow): it says why a query
  // failed better than Apollo's error does. The error, if any, is asserted after it.
  let error;
  try {
    const first = await apq.query({ query, variables: { id: user.id } });
    assert.equal(first.data.user.id, user.id);
    const second = await apq.query({ query, variables: { id: user.id } });
    assert.equal(second.data.user.nickName, user.nickName);
  } catch (caught) {
    error = caught;
  }
  return { calls, error };
}

const params = (call) => Object.fromEntries(call.url.searchParams);
const persistedQueryOf = (call) =>
  call.method === 'GET' ? JSON.parse(params(call).extensions ?? '{}').persistedQuery : call.body?.extensions?.persistedQuery;
const queryOf = (call) => (call.method === 'GET' ? params(call).query : call.body?.query);

function assertPersistedQueryFlow(calls, hashedMethod) {
  const summary = calls.map((c) => `${c.method} ${c.status} ${JSON.stringify(c.answer).slice(0, 160)}`).join('\n  ');
  const [miss, retry, hit] = calls;
  assert.ok(miss, 'a first request went out');
  assert.equal(miss.method, hashedMethod, `the hash-only request is a ${hashedMethod}`);
  assert.equal(queryOf(miss), undefined, 'the first request carries no query text');
  const hash = persistedQueryOf(miss)?.sha256Hash;
  assert.match(String(hash), /^[0-9a-f]{64}$/, 'the first request carries a SHA-256 hash');
  assert.deepEqual(
    codes(miss.answer),
    ['PERSISTED_QUERY_NOT_FOUND'],
    `an unknown hash answers PERSISTED_QUERY_NOT_FOUND; requests:\n  ${summary}`,
  );
  assert.ok(retry, `the link retried with the query; requests:\n  ${summary}`);
  assert.equal(retry.method, 'POST', 'the retry with the query text is a POST');
  assert.equal(persistedQueryOf(retry)?.sha256Hash, hash, 'the retry carries the same hash');
  assert.equal(sha256(queryOf(retry)), hash, 'the hash is the SHA-256 of the query text sent');
  assert.equal(retry.answer?.errors, undefined, 'the retry is answered without errors');
  assert.ok(hit, `the second query went out; requests:\n  ${summary}`);
  assert.equal(hit.method, hashedMethod, `the second query is a ${hashedMethod}`);
  assert.equal(queryOf(hit), undefined, 'the second query carries no query text');
  assert.equal(persistedQueryOf(hit)?.sha256Hash, hash);
  assert.equal(hit.answer?.errors, undefined, `the hash alone is answered; requests:\n  ${summary}`);
  assert.ok(hit.answer?.data?.user, 'the hash alone answers the data');
  assert.equal(calls.length, 3, `three requests in all; requests:\n  ${summary}`);
}

test('persisted queries over POST: PERSISTED_QUERY_NOT_FOUND, retry with the query, then the hash alone', async () => {
  const { calls, error } = await persistedQueryRound(false);
  assertPersistedQueryFlow(calls, 'POST');
  if (error) throw error;
});

test('persisted queries with useGETForHashedQueries: hash-only GETs', async () => {
  const { calls, error } = await persistedQueryRound(true);
  assertPersistedQueryFlow(calls, 'GET');
  if (error) throw error;
});

test('a persisted-query hash that does not match its query is BAD_REQUEST', async () => {
  const extensions = { persistedQuery: { version: 1, sha256Hash: sha256('{ somethingElse }') } };
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...authHeaders() },
    body: JSON.stringify({ query: '{ __typename }', extensions }),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const body = await response.json();
  assert.deepEqual(codes(body), ['BAD_REQUEST'], `answer: ${response.status} ${JSON.stringify(body)}`);
  assert.equal(body.data, undefined, 'a request that could not run has no data');
});

test('the raw check: a known query text still answers without any extension', async () => {
  const { status, body } = await rawGql('{ __typename }', undefined, authHeaders());
  assert.equal(status, 200);
  assert.deepEqual(body.data, { __typename: 'Query' });
  assert.equal(body.errors, undefined);
});

// --- live updates: GraphQLWsLink ---------------------------------------------------------------

/**
 * The app's client with live updates, as Apollo's docs set it up: subscriptions over
 * `GraphQLWsLink` (a graphql-ws client over `ws`, `connectionParams` carrying the bearer token),
 * queries and mutations over an `HttpLink` with the same token, split by the operation's type
 * (`ApolloLink.split`, which 4.x's deprecated standalone `split` is, with `getMainDefinition`).
 * `frames` records every message the socket got from the gateway.
 */
function liveApolloClient(token) {
  const { calls, fetchFn } = recordingFetch();
  const frames = [];
  const wsClient = createWsClient({
    url: wsUrlOf(GRAPHQL_URL),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0, // a failure shows, rather than a reconnect
    on: { message: (message) => frames.push(message) },
  });
  const httpLink = new HttpLink({ uri: GRAPHQL_URL, fetch: fetchFn, headers: bearer(token) });
  const wsLink = new GraphQLWsLink(wsClient);
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    wsLink,
    httpLink,
  );
  return { apollo: client(link), wsClient, calls, frames };
}

const ORDER_CHANGES = gql(`subscription OrderChanges($userId: UUID) {
  orderChanges(userId: $userId) { kind orderId userId order { id itemQuantity itemPrice totalValue } }
}`);
const CREATE_ORDER = gql('mutation CreateOrder($input: CreateOrderInput!) { createOrder(input: $input) { id userId totalValue } }');
const UPDATE_ORDER = gql('mutation UpdateOrder($id: UUID!, $input: UpdateOrderInput!) { updateOrder(id: $id, input: $input) { id totalValue } }');

test('GraphQLWsLink: a user\'s orderChanges gets CREATED, then UPDATED with the exact totalValue, of an order made through Apollo', async () => {
  const ana = await signedUpUser('apollo_live');
  const { apollo, wsClient, calls, frames } = liveApolloClient(ana.token);
  const changes = recorder();
  const before = await metric('gateway_subscriptions');
  const subscription = apollo.subscribe({ query: ORDER_CHANGES }).subscribe(changes.observer);
  try {
    // In place once the gateway counts it: every change committed from then on reaches it.
    await waitForMetric('gateway_subscriptions', (n) => n >= before + 1, 'the subscription registers');

    const { data: created } = await apollo.mutate({
      mutation: CREATE_ORDER,
      variables: { input: { userId: ana.user.id, itemDescription: 'Monitor', itemQuantity: 3, itemPrice: '19.90' } },
    });
    const order = created.createOrder;
    assert.equal(order.totalValue, '59.70');
    assert.equal(calls.at(-1).body.operationName, 'CreateOrder', 'the mutation went over HTTP');

    const isOurs = (kind) => () => changes.values.find((r) => r.data?.orderChanges?.orderId === order.id && r.data.orderChanges.kind === kind);
    const first = await changes.until(isOurs('CREATED'), 'the CREATED of the order');
    assert.deepEqual(first, {
      data: {
        orderChanges: {
          __typename: 'OrderChange',
          kind: 'CREATED',
          orderId: order.id,
          userId: ana.user.id,
          order: { __typename: 'Order', id: order.id, itemQuantity: 3, itemPrice: '19.90', totalValue: '59.70' },
        },
      },
    });

    // 3 × 0.10: exactly "0.30", a string (a binary float would be 0.30000000000000004).
    await apollo.mutate({ mutation: UPDATE_ORDER, variables: { id: order.id, input: { itemPrice: '0.10' } } });
    const second = await changes.until(isOurs('UPDATED'), 'the UPDATED of the order');
    assert.deepEqual(second.data.orderChanges.order, { __typename: 'Order', id: order.id, itemQuantity: 3, itemPrice: '0.10', totalValue: '0.30' });
    assert.equal(second.error, undefined);

    assert.deepEqual(
      changes.values.filter((r) => r.data?.orderChanges?.orderId === order.id).map((r) => r.data.orderChanges.kind),
      ['CREATED', 'UPDATED'],
      'each change once, in commit order',
    );
    assert.deepEqual(changes.errors, [], 'no error');
    assert.equal(changes.completed, false, 'the subscription goes on');
    assert.ok(
      calls.every((call) => call.body?.query && !/^\s*subscription/.test(call.body.query)),
      'no subscription went over HTTP',
    );
    assert.equal(frames[0]?.type, 'connection_ack', 'the gateway acknowledged the bearer token');
  } finally {
    subscription.unsubscribe();
    await wsClient.dispose();
  }
  // Unsubscribing ends it on the gateway too.
  await waitForMetric('gateway_subscriptions', (n) => n <= before, 'the subscription ends on the gateway');
});

test('GraphQLWsLink: someone else\'s orderChanges is a FORBIDDEN error in the result, no data, then complete', async () => {
  const [ana, bia] = await Promise.all([signedUpUser('apollo_live'), signedUpUser('apollo_live')]);
  const { apollo, wsClient, frames } = liveApolloClient(ana.token);
  const results = recorder();
  const subscription = apollo.subscribe({ query: ORDER_CHANGES, variables: { userId: bia.user.id } }).subscribe(results.observer);
  try {
    await results.until(() => results.completed || results.errors.length, 'the subscription ends');
    // Apollo Client 4 delivers a GraphQL error of a subscription as a result, not through the
    // observer's `error`: { data: undefined, error: CombinedGraphQLErrors }, then complete.
    assert.deepEqual(results.errors, [], `no observer error (frames: ${JSON.stringify(frames)})`);
    assert.equal(results.values.length, 1, `one result: ${results.describe()}`);
    const [result] = results.values;
    assert.equal(result.data, undefined, 'no data');
    assert.ok(CombinedGraphQLErrors.is(result.error), `a CombinedGraphQLErrors: ${results.describe()}`);
    assert.deepEqual(result.error.errors.map((e) => e.extensions?.code), ['FORBIDDEN'], `frames: ${JSON.stringify(frames)}`);
    assert.equal(results.completed, true, 'then it completes');
  } finally {
    subscription.unsubscribe();
    await wsClient.dispose();
  }
  console.log(`# FORBIDDEN subscription, frames the socket got: ${JSON.stringify(frames)}`);
});
