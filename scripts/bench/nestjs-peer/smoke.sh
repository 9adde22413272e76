#!/usr/bin/env bash
# Smoke test of the NestJS peer against the local PostgreSQL, Redis and RabbitMQ: builds it,
# gives the run its own vhost, two fresh databases and a Redis key prefix (db 15), starts the
# three roles, runs every operation scripts/bench/graphql.lua sends (and the rest of the
# contract the peer keeps) with curl, checks the answers with jq, and cleans up everything on
# exit, also after a failure or Ctrl-C.
#
# Environment: PG_PORT (5432), REDIS_PORT (6379), AMQP_PORT (5672), KEEP_LOGS=1 (print the
# roles' logs at the end), VERBOSE=1 (print every answer checked).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PG_PORT=${PG_PORT:-5432} REDIS_PORT=${REDIS_PORT:-6379} AMQP_PORT=${AMQP_PORT:-5672}
RUN=$$
VHOST=peer-smoke-$RUN
USERS_DB=peer_smoke_${RUN}_users ORDERS_DB=peer_smoke_${RUN}_orders
REDIS_DB=15 PREFIX=peer-smoke-$RUN
WORK=$(mktemp -d)
PIDS=() NAMES=() DATABASES=() VHOST_MADE="" FAILED=0

say() { printf 'smoke: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
psql_admin() { timeout 60 psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -d postgres -v ON_ERROR_STOP=1 -Atq "$@"; }
redis() { timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -n "$REDIS_DB" "$@"; }
rmqctl() { if ((EUID == 0)); then timeout 60 rabbitmqctl -q "$@"; else sudo timeout 60 rabbitmqctl -q "$@"; fi; }

cleanup() {
  local status=$? pid i db
  trap - EXIT
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for i in "${!PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "${PIDS[$i]}" 2>/dev/null
    wait "${PIDS[$i]}" 2>/dev/null
  done
  if ((status != 0)) || [[ -n ${KEEP_LOGS:-} ]]; then
    for i in "${!NAMES[@]}"; do
      say "--- ${NAMES[$i]} log (last 40 lines)"
      tail -n 40 "$WORK/${NAMES[$i]}.log" >&2
    done
  fi
  [[ -n $VHOST_MADE ]] && rmqctl delete_vhost "$VHOST" >/dev/null && say "deleted vhost $VHOST"
  for db in "${DATABASES[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" && say "dropped database $db"
  done
  redis --scan --pattern "$PREFIX:*" | xargs -r timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -n "$REDIS_DB" DEL >/dev/null
  rm -rf "$WORK"
  if ((status == 0)); then say "PASSED"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building"
./build.sh >&2

rmqctl add_vhost "$VHOST" >/dev/null
VHOST_MADE=1
rmqctl set_permissions -p "$VHOST" guest ".*" ".*" ".*" >/dev/null
for db in "$USERS_DB" "$ORDERS_DB"; do
  psql_admin -c "CREATE DATABASE $db"
  DATABASES+=("$db")
done
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
say "run $RUN: vhost $VHOST, databases $USERS_DB and $ORDERS_DB, Redis db $REDIS_DB prefix $PREFIX, gateway $URL"

COMMON=(
  PATH="$PATH" HOME="$HOME" NODE_ENV=production
  AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/$VHOST"
  USERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$USERS_DB"
  ORDERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$ORDERS_DB"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/$REDIS_DB" CACHE_KEY_PREFIX="$PREFIX"
  AUTH_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')" LISTEN_ADDR="127.0.0.1:$PORT"
)
start() {
  env -i "${COMMON[@]}" node dist/main.js "$1" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!) NAMES+=("$1")
}
start users
start orders
start gateway

for ((i = 0; ; i++)); do
  curl -fsS --max-time 3 "$URL/readyz" >/dev/null 2>&1 && break
  for j in "${!PIDS[@]}"; do kill -0 "${PIDS[$j]}" 2>/dev/null || die "${NAMES[$j]} exited before the gateway was ready"; done
  ((i < 240)) || die "not ready after 120 s"
  sleep 0.5
done
say "ready after ~$((i / 2)) s"

TOKEN=""
# gql JSON: POSTs a request (with the token, once there is one), prints the body.
gql() {
  local auth=()
  [[ -n $TOKEN ]] && auth=(-H "Authorization: Bearer $TOKEN")
  curl -sS --max-time 30 -H 'Content-Type: application/json' "${auth[@]}" --data-binary "$1" "$URL/graphql"
}
# check NAME RESPONSE JQ_FILTER: the response has no errors and the filter holds.
check() {
  local name=$1 response=$2 filter=$3
  if jq -e "(has(\"errors\") | not) and ($filter)" >/dev/null 2>&1 <<<"$response"; then
    say "ok   $name"
    [[ -z ${VERBOSE:-} ]] || say "     $response"
  else
    say "FAIL $name: $response"
    FAILED=1
  fi
}
# check_error NAME RESPONSE CODE: the response's first error has this extensions.code.
check_error() {
  if jq -e --arg code "$3" '.errors[0].extensions.code == $code' >/dev/null 2>&1 <<<"$2"; then
    say "ok   $1 ($3)"
  else
    say "FAIL $1: wanted $3, got $2"
    FAILED=1
  fi
}
cpf() {
  local digits=$1 length sum i rest
  for length in 9 10; do
    sum=0
    for ((i = 0; i < length; i++)); do sum=$((sum + ${digits:i:1} * (length + 1 - i))); done
    rest=$((sum % 11))
    digits+=$((rest < 2 ? 0 : 11 - rest))
  done
  echo "$digits"
}
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'

CREATE_USER='mutation($input: CreateUserInput!) { createUser(input: $input) { id nickName } }'
create_user() { # NICK CPF
  jq -nc --arg q "$CREATE_USER" --arg nick "$1" --arg cpf "$2" '{query: $q, variables: {input: {
    nickName: $nick, fullName: ("Smoke " + $nick), password: "smoke-password", cpf: $cpf,
    email: ($nick + "@Smoke.Example.com"), phoneNumber: "+55 (11) 98765-4321"}}}'
}

response=$(gql '{"query":"{ __typename }"}')
[[ $response == '{"data":{"__typename":"Query"}}' ]] && say "ok   { __typename }: $response" || { say "FAIL __typename: $response"; FAILED=1; }

response=$(gql "$(create_user SmokeAdmin "$(cpf 123456789)")")
check createUser "$response" ".data.createUser.nickName == \"SmokeAdmin\" and (.data.createUser.id | test(\"$UUID_RE\"))"
ADMIN_ID=$(jq -r '.data.createUser.id' <<<"$response")
response=$(gql "$(create_user smokeuser "$(cpf 223456789)")")
check "createUser (a second)" "$response" '.data.createUser.nickName == "smokeuser"'
USER_ID=$(jq -r '.data.createUser.id' <<<"$response")
check_error "createUser with a nickName taken (other case)" "$(gql "$(create_user SMOKEUSER "$(cpf 323456789)")")" CONFLICT
check_error "createUser with a bad cpf" "$(gql "$(create_user smokebad 123.456.789-00)")" BAD_USER_INPUT

check_error "user(id) signed out" "$(gql "$(jq -nc --arg id "$ADMIN_ID" '{query: "query($id: UUID!) { user(id: $id) { id } }", variables: {id: $id}}')")" UNAUTHENTICATED

env -i "${COMMON[@]}" node dist/main.js grant-admin smokeadmin >"$WORK/grant.out" 2>&1 ||
  die "grant-admin failed: $(cat "$WORK/grant.out")"
say "ok   grant-admin smokeadmin: $(cat "$WORK/grant.out")"
if env -i "${COMMON[@]}" node dist/main.js grant-admin nobody-at-all >/dev/null 2>&1; then
  say "FAIL grant-admin of an unknown nick exited 0"; FAILED=1
else
  say "ok   grant-admin of an unknown nick exits non-zero"
fi

check_error "login with a wrong password" "$(gql '{"query":"mutation { login(login: \"smokeadmin\", password: \"wrong-password\") { token } }"}')" UNAUTHENTICATED
response=$(gql '{"query":"mutation { login(login: \"SMOKEADMIN\", password: \"smoke-password\") { token expiresAt user { id } } }"}')
check "login (nickName, other case)" "$response" "(.data.login.token | length) > 20 and .data.login.user.id == \"$ADMIN_ID\" and (.data.login.expiresAt | test(\"$TIME_RE\"))"
response=$(gql '{"query":"mutation { login(login: \"smokeuser@smoke.example.com\", password: \"smoke-password\") { token } }"}')
check "login (email)" "$response" '(.data.login.token | length) > 20'
USER_TOKEN=$(jq -r '.data.login.token' <<<"$response")
TOKEN=$(gql '{"query":"mutation { login(login: \"smokeadmin\", password: \"smoke-password\") { token } }"}' | jq -r .data.login.token)

USER_QUERY='query($id: UUID!) { user(id: $id) { id nickName fullName email cpf phoneNumber createdAt } }'
user_body() { jq -nc --arg q "$USER_QUERY" --arg id "$1" '{query: $q, variables: {id: $id}}'; }
for attempt in "first read" "cached read"; do
  response=$(gql "$(user_body "$USER_ID")")
  check "user(id), $attempt" "$response" ".data.user.id == \"$USER_ID\" and .data.user.nickName == \"smokeuser\"
    and .data.user.email == \"smokeuser@smoke.example.com\" and .data.user.cpf == \"$(cpf 223456789)\"
    and .data.user.phoneNumber == \"+5511987654321\" and .data.user.fullName == \"Smoke smokeuser\"
    and (.data.user.createdAt | test(\"$TIME_RE\"))"
done
[[ -n $(redis --scan --pattern "$PREFIX:user:$USER_ID") ]] && say "ok   user:<id> is in Redis" || { say "FAIL no user:<id> key in Redis"; FAILED=1; }
check "user(id) of nobody is null" "$(gql "$(user_body 00000000-0000-4000-8000-000000000000)")" '.data.user == null'
response=$(TOKEN=not.a.token gql '{"query":"{ __typename }"}')
[[ $response == '{"data":{"__typename":"Query"}}' ]] && say "ok   { __typename } with a bad token: $response" || { say "FAIL __typename with a bad token: $response"; FAILED=1; }
check_error "user(id) with a bad token" "$(TOKEN=not.a.token gql "$(user_body "$USER_ID")")" UNAUTHENTICATED
check "a user reads another as null" "$(TOKEN=$USER_TOKEN gql "$(user_body "$ADMIN_ID")")" '.data.user == null'

CREATE_ORDER='mutation($input: CreateOrderInput!) { createOrder(input: $input) { id totalValue } }'
order_body() { # USER_ID QUANTITY PRICE_JSON
  jq -nc --arg q "$CREATE_ORDER" --arg user "$1" --argjson qty "$2" --argjson price "$3" \
    '{query: $q, variables: {input: {userId: $user, itemDescription: "smoke item", itemQuantity: $qty, itemPrice: $price}}}'
}
response=$(gql "$(order_body "$USER_ID" 2 '"10.50"')")
check 'createOrder 2 × "10.50"' "$response" "(.data.createOrder.id | test(\"$UUID_RE\")) and .data.createOrder.totalValue == \"21.00\""
ORDER_ID=$(jq -r '.data.createOrder.id' <<<"$response")
check 'createOrder 3 × "19.9"' "$(gql "$(order_body "$ADMIN_ID" 3 '"19.9"')")" '.data.createOrder.totalValue == "59.70"'
check_error "createOrder with a price as a number" "$(gql "$(order_body "$USER_ID" 1 '19.9')")" BAD_USER_INPUT
check_error "createOrder with three decimal places" "$(gql "$(order_body "$USER_ID" 1 '"1.999"')")" BAD_USER_INPUT
response=$(gql "$(order_body 00000000-0000-4000-8000-000000000000 1 '"1.00"')")
check_error "createOrder for no user" "$response" BAD_USER_INPUT
jq -e '.errors[0].extensions.field == "userId"' >/dev/null <<<"$response" && say "ok   ... on field userId" || { say "FAIL field: $response"; FAILED=1; }

ORDERS='{"query":"{ orders(first: 100) { nodes { id itemQuantity totalValue user { id nickName fullName email } } } }"}'
ORDERS_ONLY='{"query":"{ orders(first: 100) { nodes { id itemQuantity totalValue } } }"}'
for attempt in "first read" "cached read"; do
  response=$(gql "$ORDERS")
  check "orders(first: 100) with users, $attempt" "$response" "(.data.orders.nodes | length) == 2
    and .data.orders.nodes[0].id == \"$ORDER_ID\" and .data.orders.nodes[0].itemQuantity == 2
    and .data.orders.nodes[0].totalValue == \"21.00\" and .data.orders.nodes[0].user.nickName == \"smokeuser\"
    and .data.orders.nodes[1].user.id == \"$ADMIN_ID\""
done
check "orders(first: 100) alone" "$(gql "$ORDERS_ONLY")" '(.data.orders.nodes | length) == 2 and (.data.orders.nodes[0] | keys) == ["id", "itemQuantity", "totalValue"]'
check "a user lists only their own orders" "$(TOKEN=$USER_TOKEN gql "$ORDERS_ONLY")" "(.data.orders.nodes | map(.id)) == [\"$ORDER_ID\"]"

UPDATE_USER='mutation($id: UUID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id fullName updatedAt } }'
response=$(gql "$(jq -nc --arg q "$UPDATE_USER" --arg id "$USER_ID" '{query: $q, variables: {id: $id, input: {fullName: "  Smoke Updated  "}}}')")
check updateUser "$response" ".data.updateUser.id == \"$USER_ID\" and .data.updateUser.fullName == \"Smoke Updated\" and (.data.updateUser.updatedAt | test(\"$TIME_RE\"))"
check "user(id) after updateUser (invalidated)" "$(gql "$(user_body "$USER_ID")")" '.data.user.fullName == "Smoke Updated"'
check "orders' users after updateUser" "$(gql "$ORDERS")" '.data.orders.nodes[0].user.fullName == "Smoke Updated"'
check_error "updateUser of nobody" "$(gql "$(jq -nc --arg q "$UPDATE_USER" '{query: $q, variables: {id: "00000000-0000-4000-8000-000000000000", input: {fullName: "x"}}}')")" NOT_FOUND

UPDATE_ORDER='mutation($id: UUID!, $input: UpdateOrderInput!) { updateOrder(id: $id, input: $input) { id itemQuantity totalValue updatedAt } }'
response=$(gql "$(jq -nc --arg q "$UPDATE_ORDER" --arg id "$ORDER_ID" '{query: $q, variables: {id: $id, input: {itemQuantity: 3}}}')")
check "updateOrder itemQuantity 3" "$response" ".data.updateOrder.id == \"$ORDER_ID\" and .data.updateOrder.itemQuantity == 3 and .data.updateOrder.totalValue == \"31.50\" and (.data.updateOrder.updatedAt | test(\"$TIME_RE\"))"
response=$(gql "$(jq -nc --arg q "$UPDATE_ORDER" --arg id "$ORDER_ID" '{query: $q, variables: {id: $id, input: {itemPrice: "0.1", itemDescription: "changed"}}}')")
check 'updateOrder itemPrice "0.1"' "$response" '.data.updateOrder.itemQuantity == 3 and .data.updateOrder.totalValue == "0.30"'
check "orders after updateOrder (invalidated)" "$(gql "$ORDERS_ONLY")" ".data.orders.nodes[0].totalValue == \"0.30\""

DELETE_ORDER='mutation($id: UUID!) { deleteOrder(id: $id) }'
check_error "deleteOrder of someone else's order" "$(TOKEN=$USER_TOKEN gql "$(jq -nc --arg q "$DELETE_ORDER" --arg id "$(gql "$ORDERS_ONLY" | jq -r '.data.orders.nodes[1].id')" '{query: $q, variables: {id: $id}}')")" NOT_FOUND
check deleteOrder "$(gql "$(jq -nc --arg q "$DELETE_ORDER" --arg id "$ORDER_ID" '{query: $q, variables: {id: $id}}')")" '.data.deleteOrder == true'
check_error "deleteOrder again" "$(gql "$(jq -nc --arg q "$DELETE_ORDER" --arg id "$ORDER_ID" '{query: $q, variables: {id: $id}}')")" NOT_FOUND
check "orders after deleteOrder (invalidated)" "$(gql "$ORDERS_ONLY")" "(.data.orders.nodes | length) == 1"

# The bench's own script, a second each, when wrk is installed: no failed responses.
if command -v wrk >/dev/null; then
  printf '%s\n' "$USER_ID" "$ADMIN_ID" >"$WORK/ids"
  for scenario in typename user orders orders_only update_user create_order; do
    line=$(BENCH_SCENARIO=$scenario BENCH_IDS_FILE=$WORK/ids BENCH_TOKEN=$TOKEN \
      wrk -t1 -c2 -d1s -s ../graphql.lua "$URL" | sed -n 's/^BENCH_JSON //p')
    if jq -e '.errors == 0 and .requests > 0' >/dev/null <<<"$line"; then
      say "ok   wrk $scenario: $(jq -c '{requests, errors}' <<<"$line")"
    else
      say "FAIL wrk $scenario: $line"; FAILED=1
    fi
  done
fi

((FAILED == 0)) || die "some checks failed"
