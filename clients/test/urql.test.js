// urql (`@urql/core`) as an application uses it with live updates: `fetchExchange` for queries
// and mutations over HTTP, `subscriptionExchange` forwarding subscriptions to a `graphql-ws`
// client (over `ws`) as urql's docs show, both in one `Client`, signed in with the bearer token
// (HTTP headers, and `connectionParams` at `connection_init`). Every HTTP request is recorded
// through a custom fetch, so the tests assert what went over HTTP.
//
// No sleep stands in for readiness: a subscription is in place once the gateway's
// `gateway_subscriptions` (/metrics) counts it; every change committed after that reaches it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { GRAPHQL_URL, HTTP_TIMEOUT_MS, bearer, metric, recorder, signedUpUser, waitForMetric, wsUrlOf } from './helpers.js';

/** A fetch that records each HTTP request (method, operationName) and its parsed answer. */
function recordingFetch() {
  const calls = [];
  const fetchFn = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const method = (init.method ?? 'GET').toUpperCase();
    const body = init.body ? JSON.parse(init.body) : undefined;
    const call = { method, operationName: body?.operationName ?? url.searchParams.get('operationName'), query: body?.query ?? url.searchParams.get('query') };
    calls.push(call);
    const response = await fetch(input, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    call.status = response.status;
    call.answer = await response.clone().json().catch(() => undefined);
    return response;
  };
  return { calls, fetchFn };
}

/**
 * A urql Client signed in with `token`: queries and mutations through `fetchExchange`,
 * subscriptions through `subscriptionExchange` and a graphql-ws client. `frames` records every
 * message the socket got from the gateway.
 */
function urqlClient(token) {
  const { calls, fetchFn } = recordingFetch();
  const frames = [];
  const wsClient = createWsClient({
    url: wsUrlOf(GRAPHQL_URL),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0, // a failure shows, rather than a reconnect
    on: { message: (message) => frames.push(message) },
  });
  const client = new Client({
    url: GRAPHQL_URL,
    fetch: fetchFn,
    fetchOptions: () => ({ headers: bearer(token) }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = wsClient.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, wsClient, calls, frames };
}

const ORDER_CHANGES = gql`
  subscription OrderChanges {
    orderChanges { kind orderId userId order { id itemDescription totalValue } }
  }
`;
const VIEWER = gql`query Viewer { viewer { id nickName } }`;
const ORDER = gql`query Order($id: UUID!) { order(id: $id) { id totalValue } }`;
const CREATE_ORDER = gql`
  mutation CreateOrder($input: CreateOrderInput!) { createOrder(input: $input) { id userId totalValue } }
`;
const DELETE_ORDER = gql`mutation DeleteOrder($id: UUID!) { deleteOrder(id: $id) }`;

/** The result's data, or a failure naming its error. */
const dataOf = (result, what) => {
  assert.equal(result.error, undefined, `${what}: ${result.error?.message}`);
  return result.data;
};

test('urql: a user\'s orderChanges gets their own order\'s CREATED and DELETED; queries and mutations go over HTTP in the same client', async () => {
  const bia = await signedUpUser('urql');
  const { client, wsClient, calls, frames } = urqlClient(bia.token);

  // A query over HTTP, signed in.
  const viewer = dataOf(await client.query(VIEWER, {}, { requestPolicy: 'network-only' }).toPromise(), 'viewer');
  assert.equal(viewer.viewer.id, bia.user.id);
  assert.equal(viewer.viewer.nickName, bia.input.nickName);

  const changes = recorder();
  const before = await metric('gateway_subscriptions');
  const subscription = client.subscription(ORDER_CHANGES, {}).subscribe(changes.observer.next);
  try {
    await waitForMetric('gateway_subscriptions', (n) => n >= before + 1, 'the subscription registers');

    const created = dataOf(
      await client
        .mutation(CREATE_ORDER, { input: { userId: bia.user.id, itemDescription: 'Mouse', itemQuantity: 2, itemPrice: '10.05' } })
        .toPromise(),
      'createOrder',
    ).createOrder;
    assert.equal(created.totalValue, '20.10');

    const ofOrder = (kind) => () => changes.values.find((r) => r.data?.orderChanges?.orderId === created.id && r.data.orderChanges.kind === kind);
    const createdChange = await changes.until(ofOrder('CREATED'), 'the CREATED of the order');
    assert.equal(createdChange.error, undefined);
    // urql's cacheExchange adds __typename to queries and mutations only: a subscription goes
    // out, and comes back, as written.
    assert.deepEqual(createdChange.data.orderChanges, {
      kind: 'CREATED',
      orderId: created.id,
      userId: bia.user.id,
      order: { id: created.id, itemDescription: 'Mouse', totalValue: '20.10' },
    });

    // The order reads back over HTTP, then goes.
    const read = dataOf(await client.query(ORDER, { id: created.id }, { requestPolicy: 'network-only' }).toPromise(), 'order');
    assert.deepEqual(read.order, { __typename: 'Order', id: created.id, totalValue: '20.10' });
    assert.equal(dataOf(await client.mutation(DELETE_ORDER, { id: created.id }).toPromise(), 'deleteOrder').deleteOrder, true);

    const deletedChange = await changes.until(ofOrder('DELETED'), 'the DELETED of the order');
    assert.deepEqual(deletedChange.data.orderChanges, {
      kind: 'DELETED',
      orderId: created.id,
      userId: bia.user.id,
      order: null,
    });
    assert.deepEqual(
      changes.values.filter((r) => r.data?.orderChanges?.orderId === created.id).map((r) => r.data.orderChanges.kind),
      ['CREATED', 'DELETED'],
      'each change once, in commit order',
    );
    assert.deepEqual(
      changes.values.filter((r) => r.error || r.data?.orderChanges?.userId !== bia.user.id),
      [],
      'no error, and only their own orders',
    );

    // What went over HTTP: the queries (as GETs, urql's default `preferGetMethod`) and the
    // mutations (POSTs), never the subscription.
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.operationName}`),
      ['GET Viewer', 'POST CreateOrder', 'GET Order', 'POST DeleteOrder'],
      `HTTP requests: ${JSON.stringify(calls.map((c) => `${c.method} ${c.operationName} ${c.status}`))}`,
    );
    assert.ok(calls.every((c) => c.status === 200), 'each answered 200');
    assert.equal(frames[0]?.type, 'connection_ack', 'the gateway acknowledged the bearer token');
  } finally {
    subscription.unsubscribe();
    await wsClient.dispose();
  }
  // Unsubscribing ends it on the gateway too.
  await waitForMetric('gateway_subscriptions', (n) => n <= before, 'the subscription ends on the gateway');
});
