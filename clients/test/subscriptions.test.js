// Live updates (API.md, "Live updates" and "Identity and access") as an outside client sees
// them: the `graphql-ws` library's client (graphql-transport-ws) over `ws`, and raw `ws`
// sockets for the protocol's close codes, against the gateway scripts/clients.sh runs. Two more
// gateways of the suite's own (GATEWAY_BIN, fresh DATA_DIRs) carry the settings the shared one
// must not have: WS_INIT_TIMEOUT_SECONDS=1 with WS_MAX_SUBSCRIPTIONS=2, and TOKEN_TTL_SECONDS=4.
//
// No sleep stands in for readiness. A subscription is known to be in place once a change of its
// own "probe" write reaches it (the write is made again, at most READY_MS, until one does):
// every change committed after that reaches it too. That another user's change did NOT arrive
// is known from a witness, an admin's socket that got it: the gateway offers a change to all of
// its subscribers at once, so once the witness has it and a later change of our own reached us,
// it would have reached us before, had it been ours to get.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { GRAPHQL_URL, gql, gqlAt, codes, signedUpUser, login, newUserInput, bearer, startGateway } from './helpers.js';

/** The subprotocol the gateway speaks (graphql-ws's GRAPHQL_TRANSPORT_WS_PROTOCOL). */
const PROTOCOL = 'graphql-transport-ws';
const wsUrlOf = (graphqlUrl) => graphqlUrl.replace(/^http/, 'ws');
const WS_URL = wsUrlOf(GRAPHQL_URL);
/** The longest any one frame, change or close is waited for. */
const WAIT_MS = 10_000;
/** The longest a subscription is waited for to be in place (probe writes made again meanwhile). */
const READY_MS = 20_000;
/** How long one probe write's change is waited for before the write is made again. */
const PROBE_MS = 1_000;

// Gateways of the suite's own: `quick` (WS_INIT_TIMEOUT_SECONDS=1, WS_MAX_SUBSCRIPTIONS=2),
// `shortLived` (tokens last TOKEN_TTL_SECONDS=4).
let quick;
let shortLived;
const TOKEN_TTL_SECONDS = 4;

// Every socket and client a test opened, closed after it.
const opened = new Set();

before(async () => {
  [quick, shortLived] = await Promise.all([
    startGateway({ WS_INIT_TIMEOUT_SECONDS: '1', WS_MAX_SUBSCRIPTIONS: '2' }),
    startGateway({ TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS) }),
  ]);
});

const closeOpened = async () => {
  const closes = [...opened];
  opened.clear();
  await Promise.all(closes.map((close) => close()));
};
afterEach(closeOpened);

after(async () => {
  await closeOpened();
  await Promise.all([quick?.stop(), shortLived?.stop()]);
});

// --- waiting -----------------------------------------------------------------------------------

/**
 * What one thing (a socket, a subscription) has seen, and waits on it: `until(check)` resolves
 * to check()'s first truthy value, checked now and on every `notify()`, or rejects after `ms`
 * with `label` and what was seen (`describe()`).
 */
function watcher(describe) {
  const waiting = new Set();
  return {
    notify() {
      for (const attempt of [...waiting]) attempt();
    },
    until(check, label, ms = WAIT_MS) {
      return new Promise((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          waiting.delete(attempt);
        };
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
          reject(new Error(`${label}: not within ${ms} ms; seen: ${describe()}`));
        }, ms);
        waiting.add(attempt);
        attempt();
      });
    },
  };
}

// --- raw sockets -------------------------------------------------------------------------------

/**
 * A raw `ws` socket to the gateway offering `protocols`; records every frame (parsed when it is
 * JSON) and the close. `headers` go with the upgrade request (a subprotocol header sent this way
 * is not checked by `ws` against the answer, so a refusal shows as the server's close code).
 */
function rawSocket({ url = WS_URL, protocols = [PROTOCOL], headers = undefined } = {}) {
  const ws = new WebSocket(url, protocols, { headers, handshakeTimeout: WAIT_MS });
  const socket = { ws, frames: [], close: null, error: null, openedAt: null };
  const watch = watcher(() => JSON.stringify({ frames: socket.frames, close: socket.close, error: socket.error?.message }));
  ws.on('open', () => {
    socket.openedAt = Date.now();
    watch.notify();
  });
  ws.on('message', (data) => {
    const text = String(data);
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = text;
    }
    socket.frames.push(frame);
    watch.notify();
  });
  ws.on('close', (code, reason) => {
    socket.close = { code, reason: String(reason), at: Date.now() };
    watch.notify();
  });
  ws.on('error', (error) => {
    socket.error = error;
    watch.notify();
  });
  const failed = () => {
    if (socket.error) throw new Error(`the socket failed: ${socket.error.message}`);
  };
  socket.opened = () =>
    watch.until(() => {
      failed();
      if (socket.close && !socket.openedAt) throw new Error(`closed before it opened: ${JSON.stringify(socket.close)}`);
      return socket.openedAt;
    }, 'the WebSocket opens');
  socket.send = (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  /** The first frame `matches`; fails at once if the socket closes without it. */
  socket.frame = (matches, label) =>
    watch.until(() => {
      const found = socket.frames.find(matches);
      if (found) return found;
      failed();
      if (socket.close) throw new Error(`${label}: the socket closed first, ${JSON.stringify(socket.close)}; frames: ${JSON.stringify(socket.frames)}`);
      return undefined;
    }, label);
  socket.closed = (label = 'the server closes the socket', ms = WAIT_MS) =>
    watch.until(() => {
      failed();
      return socket.close;
    }, label, ms);
  const close = async () => ws.terminate();
  opened.add(close);
  return socket;
}

/** A raw socket that sent `connection_init` with `payload` (if any) and was acknowledged. */
async function initialised(payload, options) {
  const socket = rawSocket(options);
  await socket.opened();
  socket.send(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });
  await socket.frame((frame) => frame?.type === 'connection_ack', 'connection_ack');
  return socket;
}

/** Opens a raw socket, sends `messages` in turn, and resolves to its close (code, reason). */
async function closeCodeAfter(messages, options) {
  const socket = rawSocket(options);
  await socket.opened();
  for (const message of messages) socket.send(message);
  const close = await socket.closed();
  return { ...close, frames: socket.frames };
}

// --- graphql-ws ------------------------------------------------------------------------------

/**
 * A graphql-ws client, connected at once (`lazy: false`) and never retrying, signed in with
 * `token` (connectionParams `{ authorization: "Bearer <token>" }`) or `connectionParams`, or
 * anonymous. Records its acknowledgement and its closes.
 */
function liveClient({ url = WS_URL, token = undefined, connectionParams = undefined } = {}) {
  const state = { connected: false, closes: [], errors: [] };
  const watch = watcher(() => JSON.stringify({ connected: state.connected, closes: state.closes, errors: state.errors.map(String) }));
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: connectionParams ?? (token ? { authorization: `Bearer ${token}` } : undefined),
    onNonLazyError: (error) => {
      state.errors.push(error);
      watch.notify();
    },
    on: {
      connected: () => {
        state.connected = true;
        watch.notify();
      },
      closed: (event) => {
        state.closes.push({ code: event?.code, reason: event?.reason });
        watch.notify();
      },
    },
  });
  const live = { client, state };
  /** Resolves once the server acknowledged `connection_init`. */
  live.connected = () =>
    watch.until(() => {
      if (state.closes.length) throw new Error(`closed before it was acknowledged: ${JSON.stringify(state.closes)}`);
      return state.connected;
    }, 'connection_ack');
  /** Resolves to the first close of the socket. */
  live.closed = (label = 'the server closes the socket', ms = WAIT_MS) => watch.until(() => state.closes[0], label, ms);
  live.dispose = async () => {
    opened.delete(live.dispose);
    await client.dispose();
  };
  opened.add(live.dispose);
  return live;
}

/**
 * Runs one operation on `live` (graphql-ws `subscribe`): records each `next` payload, the
 * errors (an `error` message's array, or a close event) and the completion.
 */
function operation(live, query, variables = undefined) {
  const sub = { payloads: [], errors: [], completed: false };
  const watch = watcher(() => JSON.stringify({ payloads: sub.payloads, errors: sub.errors.map(describeError), completed: sub.completed }));
  sub.stop = live.client.subscribe(
    { query, variables },
    {
      next: (payload) => {
        sub.payloads.push(payload);
        watch.notify();
      },
      error: (error) => {
        sub.errors.push(error);
        watch.notify();
      },
      complete: () => {
        sub.completed = true;
        watch.notify();
      },
    },
  );
  /** The first `next` payload that `matches`; fails at once if the operation ended instead. */
  sub.next = (matches, label, ms = WAIT_MS) =>
    watch.until(() => {
      const found = sub.payloads.find(matches);
      if (found) return found;
      if (sub.errors.length || sub.completed) {
        throw new Error(`${label}: the operation ended first; seen: ${JSON.stringify({ payloads: sub.payloads, errors: sub.errors.map(describeError), completed: sub.completed })}`);
      }
      return undefined;
    }, label, ms);
  /** Resolves once the operation ended: completed or errored. */
  sub.ended = (label = 'the operation ends') => watch.until(() => sub.completed || sub.errors.length > 0, label);
  sub.watch = watch;
  return sub;
}

const describeError = (error) =>
  Array.isArray(error) ? JSON.stringify(error) : error && 'code' in error ? `close ${error.code} ${error.reason}` : String(error);

/** A subscription of `field` (orderChanges, userChanges), its changes as `changes()`. */
function follow(live, field, query, variables = undefined) {
  const sub = operation(live, query, variables);
  sub.changes = () => sub.payloads.map((payload) => payload?.data?.[field]).filter(Boolean);
  /** The first change that `matches`. */
  sub.change = async (matches, label, ms = WAIT_MS) => (await sub.next((payload) => payload?.data?.[field] && matches(payload.data[field]), label, ms)).data[field];
  return sub;
}

/** Every `extensions.code` an operation got: in `next` payloads' errors and in `error` messages. */
const codesOf = (sub) => [
  ...sub.payloads.flatMap((payload) => codes(payload)),
  ...sub.errors.flatMap((error) => (Array.isArray(error) ? error.map((e) => e?.extensions?.code) : [])),
];

/**
 * Makes `write(n)` (n = 1, 2, ...) until a change it made (`isProbe`) reaches `sub`, at most
 * READY_MS: from then on the subscription is in place. Each write waits PROBE_MS for its change.
 */
async function inPlace(sub, write, isProbe, label) {
  const deadline = Date.now() + READY_MS;
  for (let writes = 1; ; writes += 1) {
    await write(writes);
    try {
      await sub.change(isProbe, label, Math.max(1, Math.min(PROBE_MS, deadline - Date.now())));
      return;
    } catch (error) {
      if (Date.now() >= deadline || sub.errors.length || sub.completed) {
        throw new Error(`${label}: no change of ${writes} probe writes arrived within ${READY_MS} ms`, { cause: error });
      }
    }
  }
}

// --- writes over HTTP --------------------------------------------------------------------------

/** Runs a mutation over HTTP as `headers`' caller; resolves to data[field], or throws with the answer. */
async function mutate(query, variables, headers, field, at = gql) {
  const { status, body } = await at(query, variables, headers);
  if (body?.errors?.length || body?.data?.[field] === undefined) throw new Error(`${field} failed: ${status} ${JSON.stringify(body)}`);
  return body.data[field];
}

const createOrder = (headers, input) =>
  mutate('mutation C($input: CreateOrderInput!) { createOrder(input: $input) { id userId totalValue } }', { input }, headers, 'createOrder');
const updateOrder = (headers, id, input) =>
  mutate('mutation U($id: UUID!, $input: UpdateOrderInput!) { updateOrder(id: $id, input: $input) { id totalValue } }', { id, input }, headers, 'updateOrder');
const deleteOrder = (headers, id) => mutate('mutation D($id: UUID!) { deleteOrder(id: $id) }', { id }, headers, 'deleteOrder');
const updateUser = (headers, id, input) =>
  mutate('mutation U($id: UUID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id fullName } }', { id, input }, headers, 'updateUser');
const anOrder = (userId, description = 'Caderno') => ({ userId, itemDescription: description, itemQuantity: 1, itemPrice: '1.00' });

/**
 * Puts an `orderChanges` subscription in place with a probe order of `owner` (made beforehand,
 * as `owner`), updated as `writer` (default the owner) until its change arrives. Resolves to the
 * probe order.
 */
async function ordersInPlace(sub, owner, writer = owner) {
  const probe = await createOrder(owner.headers, anOrder(owner.user.id, 'probe'));
  await inPlace(
    sub,
    (n) => updateOrder(writer.headers, probe.id, { itemQuantity: n + 1 }),
    (change) => change.orderId === probe.id,
    'the probe order\'s change reaches the subscription',
  );
  return probe;
}

/** Puts a `userChanges` subscription in place: `user`'s fullName changed (as `writer`) until it arrives. */
async function usersInPlace(sub, user, writer = user) {
  await inPlace(
    sub,
    (n) => updateUser(writer.headers, user.user.id, { fullName: `Probe ${n}` }),
    (change) => change.userId === user.user.id,
    'the probe change of the user reaches the subscription',
  );
}

const ORDER_CHANGES = 'subscription Orders($userId: UUID) { orderChanges(userId: $userId) { kind orderId userId } }';
const USER_CHANGES = 'subscription Users($id: UUID) { userChanges(id: $id) { kind userId } }';

/** A user signed up and in again on another gateway (`at` is its gqlAt). */
async function signedUpUserAt(graphqlUrl, prefix) {
  const input = newUserInput(prefix);
  const at = (query, variables, headers) => gqlAt(graphqlUrl, query, variables, headers);
  const user = await mutate('mutation S($input: CreateUserInput!) { createUser(input: $input) { id nickName } }', { input }, {}, 'createUser', at);
  const signIn = await mutate(
    'mutation L($login: String!, $password: String!) { login(login: $login, password: $password) { token expiresAt } }',
    { login: input.nickName, password: input.password },
    {},
    'login',
    at,
  );
  return { user, input, token: signIn.token, expiresAt: signIn.expiresAt, headers: bearer(signIn.token), at };
}

// --- 1. a user's own changes -------------------------------------------------------------------

test('a user following orderChanges gets CREATED, UPDATED with the new values, then DELETED with order null', async () => {
  const ana = await signedUpUser('live');
  const live = liveClient({ token: ana.token });
  const sub = follow(
    live,
    'orderChanges',
    'subscription Mine { orderChanges { kind orderId userId order { id userId itemDescription itemQuantity itemPrice totalValue } } }',
  );
  await live.connected();
  await ordersInPlace(sub, ana);

  const order = await createOrder(ana.headers, { userId: ana.user.id, itemDescription: 'Teclado', itemQuantity: 3, itemPrice: '19.90' });
  const created = await sub.change((c) => c.orderId === order.id, 'the CREATED of the new order');
  assert.deepEqual(created, {
    kind: 'CREATED',
    orderId: order.id,
    userId: ana.user.id,
    order: { id: order.id, userId: ana.user.id, itemDescription: 'Teclado', itemQuantity: 3, itemPrice: '19.90', totalValue: '59.70' },
  });

  // 3 × 0.10: exactly "0.30" (a binary float would make it 0.30000000000000004).
  await updateOrder(ana.headers, order.id, { itemPrice: '0.10', itemDescription: 'Teclado ABNT2' });
  const updated = await sub.change((c) => c.orderId === order.id && c.kind !== 'CREATED', 'the UPDATED of the order');
  assert.deepEqual(updated, {
    kind: 'UPDATED',
    orderId: order.id,
    userId: ana.user.id,
    order: { id: order.id, userId: ana.user.id, itemDescription: 'Teclado ABNT2', itemQuantity: 3, itemPrice: '0.10', totalValue: '0.30' },
  });

  assert.equal(await deleteOrder(ana.headers, order.id), true);
  const deleted = await sub.change((c) => c.orderId === order.id && c.kind === 'DELETED', 'the DELETED of the order');
  assert.deepEqual(deleted, { kind: 'DELETED', orderId: order.id, userId: ana.user.id, order: null });

  assert.deepEqual(
    sub.changes().filter((c) => c.orderId === order.id).map((c) => c.kind),
    ['CREATED', 'UPDATED', 'DELETED'],
    'each change once, in commit order',
  );
  assert.deepEqual(sub.errors.map(describeError), [], 'no error');
  assert.equal(sub.completed, false, 'the subscription goes on');
});

test('a user following userChanges gets their own UPDATED after updateUser, with the new values', async () => {
  const bia = await signedUpUser('live');
  const live = liveClient({ token: bia.token });
  const sub = follow(live, 'userChanges', 'subscription Me { userChanges { kind userId user { id nickName fullName phoneNumber } } }');
  await live.connected();
  await usersInPlace(sub, bia);

  await updateUser(bia.headers, bia.user.id, { fullName: 'Bia Final', phoneNumber: '+55 (21) 98888-7777' });
  const updated = await sub.change((c) => c.user?.fullName === 'Bia Final', 'the UPDATED with the new fullName');
  assert.deepEqual(updated, {
    kind: 'UPDATED',
    userId: bia.user.id,
    user: { id: bia.user.id, nickName: bia.input.nickName, fullName: 'Bia Final', phoneNumber: '+5521988887777' },
  });
  assert.ok(sub.changes().every((c) => c.userId === bia.user.id && c.kind === 'UPDATED'), 'only their own updates');
});

test('a change\'s fields come in the order the query selected them', async () => {
  const cleo = await signedUpUser('live');
  const live = liveClient({ token: cleo.token });
  // Selected in an order of their own, not the schema's, the record first: the answer keeps it.
  const orders = follow(
    live,
    'orderChanges',
    'subscription O { orderChanges { order { totalValue itemQuantity id } userId kind orderId } }',
  );
  const users = follow(live, 'userChanges', 'subscription U { userChanges { user { phoneNumber fullName id } kind userId } }');
  await live.connected();
  const probe = await ordersInPlace(orders, cleo);
  await usersInPlace(users, cleo);
  const order = await createOrder(cleo.headers, anOrder(cleo.user.id));
  await orders.change((c) => c.orderId === order.id, 'the CREATED of the order');
  await updateUser(cleo.headers, cleo.user.id, { fullName: 'Cleo Ordered' });
  await users.change((c) => c.user?.fullName === 'Cleo Ordered', 'the UPDATED of the user');

  const orderKeys = orders.changes().filter((c) => c.order).map((c) => [Object.keys(c), Object.keys(c.order)]);
  const userKeys = users.changes().filter((c) => c.user).map((c) => [Object.keys(c), Object.keys(c.user)]);
  const unique = (keys) => [...new Set(keys.map((k) => JSON.stringify(k)))].map((k) => JSON.parse(k));
  assert.deepEqual(unique(orderKeys), [[['order', 'userId', 'kind', 'orderId'], ['totalValue', 'itemQuantity', 'id']]], `orderChanges of ${probe.id} and ${order.id}`);
  assert.deepEqual(unique(userKeys), [[['user', 'kind', 'userId'], ['phoneNumber', 'fullName', 'id']]], 'userChanges');
});

// --- 2. nobody else's changes ------------------------------------------------------------------

test('another user\'s order and user changes never reach a user', async () => {
  const [ana, bia, admin] = await Promise.all([signedUpUser('live'), signedUpUser('live'), signedUpUser('live', { admin: true })]);
  const anaLive = liveClient({ token: ana.token });
  const anaOrders = follow(anaLive, 'orderChanges', ORDER_CHANGES);
  const anaUsers = follow(anaLive, 'userChanges', USER_CHANGES);
  // The witness: an admin following everyone's orders and users.
  const adminLive = liveClient({ token: admin.token });
  const allOrders = follow(adminLive, 'orderChanges', ORDER_CHANGES);
  const allUsers = follow(adminLive, 'userChanges', USER_CHANGES);
  await Promise.all([anaLive.connected(), adminLive.connected()]);
  await Promise.all([ordersInPlace(anaOrders, ana), usersInPlace(anaUsers, ana)]);
  await Promise.all([ordersInPlace(allOrders, admin), usersInPlace(allUsers, admin)]);

  // Bia's writes: the witness gets them...
  const biaOrder = await createOrder(bia.headers, anOrder(bia.user.id));
  await updateOrder(bia.headers, biaOrder.id, { itemQuantity: 2 });
  await updateUser(bia.headers, bia.user.id, { fullName: 'Bia Elsewhere' });
  await allOrders.change((c) => c.orderId === biaOrder.id && c.kind === 'UPDATED', 'the witness gets Bia\'s order update');
  await allUsers.change((c) => c.userId === bia.user.id, 'the witness gets Bia\'s user update');
  // ...then Ana's own reach Ana.
  const anaOrder = await createOrder(ana.headers, anOrder(ana.user.id));
  await updateUser(ana.headers, ana.user.id, { fullName: 'Ana Here' });
  await anaOrders.change((c) => c.orderId === anaOrder.id, 'Ana gets her own new order');
  await anaUsers.change((c) => c.userId === ana.user.id && c.kind === 'UPDATED', 'Ana gets her own update');

  assert.deepEqual(anaOrders.changes().filter((c) => c.userId !== ana.user.id), [], 'no order change of anyone else');
  assert.deepEqual(anaUsers.changes().filter((c) => c.userId !== ana.user.id), [], 'no user change of anyone else');
  assert.ok(anaOrders.changes().every((c) => c.orderId !== biaOrder.id), 'Bia\'s order never arrived');
});

// --- 3. admins, and who may follow what -------------------------------------------------------

test('an admin follows every user\'s orders without userId, and only that user\'s with userId', async () => {
  const [ana, bia, admin] = await Promise.all([signedUpUser('live'), signedUpUser('live'), signedUpUser('live', { admin: true })]);
  const live = liveClient({ token: admin.token });
  const all = follow(live, 'orderChanges', ORDER_CHANGES);
  const ofAna = follow(live, 'orderChanges', ORDER_CHANGES, { userId: ana.user.id });
  await live.connected();
  await ordersInPlace(all, admin);
  await ordersInPlace(ofAna, ana);

  const biaOrder = await createOrder(bia.headers, anOrder(bia.user.id));
  const biaCreated = await all.change((c) => c.orderId === biaOrder.id, 'everyone\'s orders: Bia\'s');
  assert.deepEqual(biaCreated, { kind: 'CREATED', orderId: biaOrder.id, userId: bia.user.id });
  const anaOrder = await createOrder(ana.headers, anOrder(ana.user.id));
  const anaCreated = await all.change((c) => c.orderId === anaOrder.id, 'everyone\'s orders: Ana\'s');
  assert.deepEqual(anaCreated, { kind: 'CREATED', orderId: anaOrder.id, userId: ana.user.id });
  assert.deepEqual(await ofAna.change((c) => c.orderId === anaOrder.id, 'Ana\'s orders: Ana\'s'), anaCreated);

  assert.deepEqual(ofAna.changes().filter((c) => c.userId !== ana.user.id), [], 'with userId, no other user\'s order');
  assert.deepEqual(all.errors.map(describeError).concat(ofAna.errors.map(describeError)), []);
});

test('a user asking for someone else\'s changes gets FORBIDDEN; anonymous gets UNAUTHENTICATED', async () => {
  const [ana, bia] = await Promise.all([signedUpUser('live'), signedUpUser('live')]);
  const live = liveClient({ token: ana.token });
  const othersOrders = follow(live, 'orderChanges', ORDER_CHANGES, { userId: bia.user.id });
  const otherUser = follow(live, 'userChanges', USER_CHANGES, { id: bia.user.id });
  await Promise.all([othersOrders.ended('orderChanges(userId: <Bia>) ends'), otherUser.ended('userChanges(id: <Bia>) ends')]);
  for (const [name, sub] of [['orderChanges(userId: <Bia>)', othersOrders], ['userChanges(id: <Bia>)', otherUser]]) {
    assert.deepEqual(codesOf(sub), ['FORBIDDEN'], `${name}: one FORBIDDEN error (seen: ${describeError(sub.errors[0] ?? sub.payloads)})`);
    assert.deepEqual(sub.changes(), [], `${name}: no change`);
    assert.ok(sub.payloads.every((payload) => payload.data == null), `${name}: no data`);
  }
  // The socket is still Ana's and open: her own userId is allowed, and a query answers.
  const viewer = operation(live, '{ viewer { id } }');
  assert.deepEqual((await viewer.next((p) => p.data, 'viewer over the socket')).data, { viewer: { id: ana.user.id } });
  assert.deepEqual(live.state.closes, [], 'the socket stays open');

  const anonymous = liveClient();
  await anonymous.connected(); // anyone may connect; a subscription needs a caller
  const anonOrders = follow(anonymous, 'orderChanges', ORDER_CHANGES);
  const anonUsers = follow(anonymous, 'userChanges', USER_CHANGES);
  await Promise.all([anonOrders.ended(), anonUsers.ended()]);
  assert.deepEqual(codesOf(anonOrders), ['UNAUTHENTICATED'], `orderChanges anonymous (seen: ${describeError(anonOrders.errors[0] ?? anonOrders.payloads)})`);
  assert.deepEqual(codesOf(anonUsers), ['UNAUTHENTICATED'], 'userChanges anonymous');
  assert.deepEqual([...anonOrders.changes(), ...anonUsers.changes()], []);
});

// --- 4. deleting a user -----------------------------------------------------------------------

test('deleteUser: an admin gets DELETED for each of the user\'s orders (the cascade) and the user; the user\'s socket closes with 4401', async () => {
  const [cara, admin] = await Promise.all([signedUpUser('live'), signedUpUser('live', { admin: true })]);
  const orders = [await createOrder(cara.headers, anOrder(cara.user.id, 'um')), await createOrder(cara.headers, anOrder(cara.user.id, 'dois'))];
  const adminLive = liveClient({ token: admin.token });
  const allOrders = follow(adminLive, 'orderChanges', 'subscription { orderChanges { kind orderId userId order { id } } }');
  const caraUser = follow(adminLive, 'userChanges', 'subscription($id: UUID) { userChanges(id: $id) { kind userId user { id } } }', { id: cara.user.id });
  const caraLive = liveClient({ token: cara.token });
  const caraOwn = follow(caraLive, 'orderChanges', ORDER_CHANGES);
  await Promise.all([adminLive.connected(), caraLive.connected()]);
  await ordersInPlace(allOrders, admin);
  await usersInPlace(caraUser, cara, admin);
  await ordersInPlace(caraOwn, cara);

  assert.equal(await mutate('mutation D($id: UUID!) { deleteUser(id: $id) }', { id: cara.user.id }, cara.headers, 'deleteUser'), true);

  const close = await caraLive.closed('the deleted user\'s socket closes');
  assert.equal(close.code, 4401, `the deleted user's socket closes with 4401 (closed: ${JSON.stringify(close)})`);
  for (const order of orders) {
    const deleted = await allOrders.change((c) => c.orderId === order.id && c.kind === 'DELETED', `the cascade's DELETED of order ${order.id}`);
    assert.deepEqual(deleted, { kind: 'DELETED', orderId: order.id, userId: cara.user.id, order: null });
  }
  const gone = await caraUser.change((c) => c.kind === 'DELETED', 'the user\'s DELETED');
  assert.deepEqual(gone, { kind: 'DELETED', userId: cara.user.id, user: null });
  assert.deepEqual(adminLive.state.closes, [], 'the admin\'s socket stays open');
  // The deleted user's token opens no socket any more.
  const again = await closeCodeAfter([{ type: 'connection_init', payload: { authorization: `Bearer ${cara.token}` } }]);
  assert.equal(again.code, 4403, `the deleted user's token at connection_init (closed: ${JSON.stringify(again)})`);
});

// --- 5. the protocol ----------------------------------------------------------------------------

test('a bad, tampered or malformed token at connection_init closes with 4403; a good one is acknowledged', async () => {
  const [ana, bia] = await Promise.all([signedUpUser('live'), signedUpUser('live')]);
  const [head, body, signature] = ana.token.split('.');
  // The signature with one character in its middle changed (the last one may only carry padding bits).
  const middle = Math.floor(signature.length / 2);
  const badSignature = `${head}.${body}.${signature.slice(0, middle)}${signature[middle] === 'A' ? 'B' : 'A'}${signature.slice(middle + 1)}`;
  // Ana's token claiming to be Bia's: her signature over a changed body.
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  const asBia = `${head}.${Buffer.from(JSON.stringify({ ...claims, sub: bia.user.id })).toString('base64url')}.${signature}`;
  for (const [name, authorization] of [
    ['garbage', 'Bearer not-a-token'],
    ['a changed signature', `Bearer ${badSignature}`],
    ['a changed body', `Bearer ${asBia}`],
    ['no Bearer scheme', ana.token],
  ]) {
    const close = await closeCodeAfter([{ type: 'connection_init', payload: { authorization } }]);
    assert.equal(close.code, 4403, `${name}: closed ${JSON.stringify(close)}`);
    assert.deepEqual(close.frames, [], `${name}: no connection_ack`);
  }
  const good = await initialised({ authorization: `Bearer ${ana.token}` });
  assert.equal(good.close, null);
});

test('the token is taken from connection_init in any case, also under payload.headers', async () => {
  const ana = await signedUpUser('live');
  for (const payload of [{ Authorization: `Bearer ${ana.token}` }, { headers: { Authorization: `Bearer ${ana.token}` } }, { AUTHORIZATION: `Bearer ${ana.token}` }]) {
    const live = liveClient({ connectionParams: payload });
    const viewer = operation(live, '{ viewer { nickName } }');
    const answer = await viewer.next((p) => p.data, `viewer with ${Object.keys(payload)[0]}`);
    assert.deepEqual(answer.data, { viewer: { nickName: ana.input.nickName } }, JSON.stringify(Object.keys(payload)));
    await live.dispose();
  }
});

test('an expired token: an open socket closes with 4401 when it expires; at connection_init it closes with 4403', async () => {
  const dan = await signedUpUserAt(shortLived.graphqlUrl, 'live');
  const expiresAt = Date.parse(dan.expiresAt);
  const wsUrl = wsUrlOf(shortLived.graphqlUrl);
  const live = liveClient({ url: wsUrl, token: dan.token });
  const sub = follow(live, 'orderChanges', ORDER_CHANGES);
  await live.connected();
  const close = await live.closed('the socket closes when the token expires', expiresAt - Date.now() + WAIT_MS);
  assert.equal(close.code, 4401, `closed ${JSON.stringify(close)}`);
  // expiresAt is in whole seconds; the socket may not close more than a second before it.
  assert.ok(Date.now() >= expiresAt - 1000, `closed at ${new Date().toISOString()}, the token expires at ${dan.expiresAt}`);
  await sub.ended('the subscription ends with the close');
  assert.ok(sub.errors.some((error) => error?.code === 4401), 'the subscription ends with the close');

  // Once the token's time is past (waited for on the clock: that is what expiry is), it opens nothing.
  const past = expiresAt + 1000 - Date.now();
  if (past > 0) await new Promise((resolve) => setTimeout(resolve, past));
  const again = await closeCodeAfter([{ type: 'connection_init', payload: { authorization: `Bearer ${dan.token}` } }], { url: wsUrl });
  assert.equal(again.code, 4403, `an expired token at connection_init: closed ${JSON.stringify(again)}`);
});

test('a message that is not valid JSON, or not a graphql-transport-ws message, closes with 4400', async () => {
  const ana = await signedUpUser('live');
  for (const [name, before, message] of [
    ['not JSON', [], '{"type": "connection_init"'],
    ['an unknown type', [], { type: 'hello' }],
    ['no type', [], { payload: {} }],
    ['a connection_init payload that is not an object', [], { type: 'connection_init', payload: 'Bearer x' }],
    ['a subscribe without id', [{ type: 'connection_init', payload: { authorization: `Bearer ${ana.token}` } }], { type: 'subscribe', payload: { query: '{ __typename }' } }],
    ['not JSON after the ack', [{ type: 'connection_init', payload: { authorization: `Bearer ${ana.token}` } }], 'ping'],
  ]) {
    const socket = rawSocket();
    await socket.opened();
    for (const message of before) socket.send(message);
    if (before.length) await socket.frame((frame) => frame?.type === 'connection_ack', `${name}: connection_ack`);
    socket.send(message);
    const close = await socket.closed(`${name}: closed`);
    assert.equal(close.code, 4400, `${name}: closed ${JSON.stringify(close)}`);
  }
});

test('a second connection_init closes with 4429', async () => {
  const socket = await initialised(undefined);
  socket.send({ type: 'connection_init' });
  const close = await socket.closed();
  assert.equal(close.code, 4429, `closed ${JSON.stringify(close)}`);
});

test('a subscribe before connection_init closes with 4401', async () => {
  const close = await closeCodeAfter([{ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } }]);
  assert.equal(close.code, 4401, `closed ${JSON.stringify(close)}`);
  assert.deepEqual(close.frames, [], 'nothing answered');
});

test('a subscribe with an id in use closes with 4409; the id of an operation that completed may be used again', async () => {
  const ana = await signedUpUser('live');
  const socket = await initialised({ authorization: `Bearer ${ana.token}` });
  socket.send({ id: 'q', type: 'subscribe', payload: { query: '{ viewer { id } }' } });
  await socket.frame((frame) => frame?.id === 'q' && frame.type === 'complete', 'the query completes');
  socket.send({ id: 'q', type: 'subscribe', payload: { query: '{ __typename }' } });
  const again = await socket.frame((frame) => frame?.id === 'q' && frame.type === 'next' && frame.payload?.data?.__typename, 'the id used again answers');
  assert.deepEqual(again.payload, { data: { __typename: 'Query' } });
  assert.equal(socket.close, null, 'not closed for an id whose operation completed');

  socket.send({ id: 's', type: 'subscribe', payload: { query: ORDER_CHANGES } });
  socket.send({ id: 's', type: 'subscribe', payload: { query: ORDER_CHANGES } });
  const close = await socket.closed();
  assert.equal(close.code, 4409, `closed ${JSON.stringify(close)}`);
});

test('no connection_init within WS_INIT_TIMEOUT_SECONDS (1) closes with 4408; an acknowledged socket stays', async () => {
  const url = wsUrlOf(quick.graphqlUrl);
  const acked = await initialised(undefined, { url });
  const silent = rawSocket({ url });
  await silent.opened();
  const close = await silent.closed('the silent socket closes', WAIT_MS);
  assert.equal(close.code, 4408, `closed ${JSON.stringify(close)}`);
  const after = close.at - silent.openedAt;
  assert.ok(after >= 900 && after < 5000, `closed ${after} ms after it opened (WS_INIT_TIMEOUT_SECONDS=1)`);
  // The acknowledged socket opened before the silent one: its own 1 s went by too.
  acked.send({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } });
  await acked.frame((frame) => frame?.id === '1' && frame.type === 'complete', 'the acknowledged socket still answers');
  assert.equal(acked.close, null);
});

test('a client offering only the legacy graphql-ws subprotocol is closed with 4406', async () => {
  // The header is set by hand: `ws` itself would refuse a handshake that selects no subprotocol.
  for (const [name, headers] of [['graphql-ws', { 'Sec-WebSocket-Protocol': 'graphql-ws' }], ['no subprotocol', undefined]]) {
    const socket = rawSocket({ protocols: [], headers });
    await socket.opened();
    assert.equal(socket.ws.protocol, '', `${name}: no subprotocol selected`);
    socket.send({ type: 'connection_init' });
    const close = await socket.closed();
    assert.equal(close.code, 4406, `${name}: closed ${JSON.stringify(close)}`);
    assert.deepEqual(socket.frames, [], `${name}: no connection_ack`);
  }
  const both = rawSocket({ protocols: ['graphql-ws', PROTOCOL] });
  await both.opened();
  assert.equal(both.ws.protocol, PROTOCOL, 'offering both, graphql-transport-ws is selected');
});

test('over the socket, a query and a mutation answer once and complete', async () => {
  const ana = await signedUpUser('live');
  const live = liveClient({ token: ana.token });
  const query = operation(live, '{ viewer { id nickName } }');
  await query.ended('the query completes');
  assert.deepEqual(query.payloads, [{ data: { viewer: { id: ana.user.id, nickName: ana.input.nickName } } }], 'one answer');
  assert.equal(query.completed, true);
  assert.deepEqual(query.errors, []);

  const mutation = operation(live, 'mutation R($id: UUID!) { updateUser(id: $id, input: { fullName: "Ana Over Socket" }) { fullName } }', { id: ana.user.id });
  await mutation.ended('the mutation completes');
  assert.deepEqual(mutation.payloads, [{ data: { updateUser: { fullName: 'Ana Over Socket' } } }], 'one answer');
  assert.equal(mutation.completed, true);
  const read = await gql('query Q($id: UUID!) { user(id: $id) { fullName } }', { id: ana.user.id }, ana.headers);
  assert.deepEqual(read.body, { data: { user: { fullName: 'Ana Over Socket' } } }, 'the mutation took place');
  assert.deepEqual(live.state.closes, [], 'the socket stays open');
});

test('one operation past WS_MAX_SUBSCRIPTIONS (2) is refused with TOO_MANY_REQUESTS; after one ends, another runs', async () => {
  const eva = await signedUpUserAt(quick.graphqlUrl, 'live');
  const live = liveClient({ url: wsUrlOf(quick.graphqlUrl), token: eva.token });
  const first = follow(live, 'orderChanges', ORDER_CHANGES);
  const second = follow(live, 'userChanges', USER_CHANGES);
  const third = operation(live, '{ viewer { id } }');
  await third.ended('the third operation ends');
  assert.deepEqual(codesOf(third), ['TOO_MANY_REQUESTS'], `the third (seen: ${describeError(third.errors[0] ?? third.payloads)})`);
  assert.deepEqual(third.payloads, [], 'no answer');
  assert.equal(first.errors.length + second.errors.length, 0, 'the first two run');
  first.stop();
  const fourth = operation(live, '{ viewer { id } }');
  assert.deepEqual((await fourth.next((p) => p.data, 'one more once the first ended')).data, { viewer: { id: eva.user.id } });
});

test('a subscription over HTTP POST answers BAD_REQUEST', async () => {
  const ana = await signedUpUser('live');
  const { status, body } = await gql(ORDER_CHANGES, undefined, ana.headers);
  assert.deepEqual(codes(body), ['BAD_REQUEST'], JSON.stringify(body));
  assert.equal(body.data, undefined, 'no data');
  assert.equal(status, 400);
});

// --- 6. logout ---------------------------------------------------------------------------------

test('logout closes the sockets of that token with 4401, not those of the user\'s other tokens', async () => {
  const fay = await signedUpUser('live');
  const other = await login(fay.input.nickName, fay.input.password);
  const live = liveClient({ token: fay.token });
  const sub = follow(live, 'orderChanges', ORDER_CHANGES);
  const otherLive = liveClient({ token: other.token });
  await Promise.all([live.connected(), otherLive.connected()]);

  assert.deepEqual((await gql('mutation { logout }', undefined, fay.headers)).body, { data: { logout: true } });
  const close = await live.closed('the logged-out token\'s socket closes');
  assert.equal(close.code, 4401, `closed ${JSON.stringify(close)}`);
  await sub.ended('its subscription ends with the close');
  assert.ok(sub.errors.some((error) => error?.code === 4401), 'its subscription ends with the close');
  // The other token's socket is open and still signed in.
  const viewer = operation(otherLive, '{ viewer { id } }');
  assert.deepEqual((await viewer.next((p) => p.data, 'viewer on the other token\'s socket')).data, { viewer: { id: fay.user.id } });
  assert.deepEqual(otherLive.state.closes, []);
});
