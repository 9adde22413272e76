#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown here, not commands
# Writes and whole answers, side by side: `scripts/bench-compare.sh` (BENCH_SECONDS=2 for a
# smoke run).
#
# Three stacks of the same architecture run in one go on this machine, each with its own
# RabbitMQ vhost, two databases and cache key prefix (one claimed Redis db):
# - "before": this project at BENCH_BEFORE (a commit; default 3e63b5f, the last before issue 18),
#   built once into ~/.cache/gqlmq-bench-bin/<commit> (or BENCH_BEFORE_BINARIES, a folder);
# - "after": this checkout's release build (or BENCH_AFTER_BINARIES);
# - "peer": the idiomatic NestJS build of the same architecture (scripts/bench/nestjs-peer).
#
# Each is seeded alike through GraphQL (100 users, one order each, 20 more orders of the first
# user). Every measurement then runs on the three in turn, BENCH_ROUNDS times, starting each round
# with another stack (A/B interleaved: a drift of the machine touches all three alike):
# `{ __typename }` (the floor), 100 orders with their users cached (whole answers in "after"),
# and createOrder, updateOrder, updateUser, deleteOrder, for one user and spread over 100. The
# orders deleteOrder takes are inserted in SQL just before the deletes, so no read meets them.
# Beside each rate: latency, errors and the CPU each process spent per request (gateway, users,
# orders, PostgreSQL, RabbitMQ, Redis), from /proc.
#
# Writes the tables to BENCHMARKS.md between its markers (BENCH_OUTPUT: another file; empty:
# print only). Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS ("16 64"), BENCH_ROUNDS (2),
# BENCH_WRK_THREADS (2), BENCH_ONLY (scenario keys), BENCH_RAW (a file to keep every measurement).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

readonly SECONDS_EACH=${BENCH_SECONDS:-5}
read -r -a CONNECTIONS <<<"${BENCH_CONNECTIONS:-16 64}"
readonly ROUNDS=${BENCH_ROUNDS:-2}
readonly WRK_THREADS=${BENCH_WRK_THREADS:-2}
read -r -a ONLY <<<"${BENCH_ONLY:-}"
readonly OUTPUT=${BENCH_OUTPUT-BENCHMARKS.md}
readonly BEFORE=${BENCH_BEFORE:-3e63b5f}
readonly SEED_USERS=100 ONE_USER_ORDERS=20
# The most orders one deleteOrder measurement may delete: far more than it does here.
readonly DELETE_SLICE=${BENCH_DELETE_SLICE:-20000}
readonly STACKS=(before after peer)
readonly PEER=$PWD/scripts/bench/nestjs-peer
readonly BEGIN_MARK='<!-- BEGIN scripts/bench-compare.sh output: replaced by each run -->'
readonly END_MARK='<!-- END scripts/bench-compare.sh output -->'

RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
VHOSTS=() DATABASES=() REDIS_DB="" WORK=""
declare -A URL=() BIN=() USERS_DB=() ORDERS_DB=()

cleanup() {
  local status=$? db vhost
  trap - EXIT
  trap '' PIPE
  set +e
  stop_processes
  for vhost in "${VHOSTS[@]}"; do rmqctl delete_vhost "$vhost" && say "deleted RabbitMQ vhost $vhost"; done
  for db in "${DATABASES[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" && say "dropped database $db"
  done
  [[ -n $REDIS_DB ]] && release_redis_db "$REDIS_DB"
  [[ -n $WORK ]] && rm -rf "$WORK"
  return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# binaries_of REV: a folder with gateway, users-worker and orders-worker built at REV, built once.
binaries_of() {
  local rev dir tree
  rev=$(git rev-parse --short "$1")
  dir=$HOME/.cache/gqlmq-bench-bin/$rev
  if [[ ! -x $dir/gateway ]]; then
    say "building $rev into $dir (once)"
    tree=$(mktemp -d)
    git worktree add --detach "$tree" "$rev" >&2
    # The shared target folder reuses the dependencies; this checkout's binaries are built after.
    (cd "$tree" && cargo build --release -p gateway -p users-worker -p orders-worker --bins >&2)
    mkdir -p "$dir"
    cp "$CARGO_TARGET_DIR"/release/{gateway,users-worker,orders-worker} "$dir/"
    git worktree remove --force "$tree"
  fi
  echo "$dir"
}

# pg_of STACK KIND SQL: runs SQL on the stack's users or orders database.
pg_of() {
  local db
  if [[ $2 == users ]]; then db=${USERS_DB[$1]}; else db=${ORDERS_DB[$1]}; fi
  timeout 120 psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -d "$db" -v ON_ERROR_STOP=1 -Atq -c "$3"
}

# start_stack STACK: its vhost, databases and processes, an admin signed in, and the seeds.
start_stack() {
  local stack=$1 vhost amqp users_url orders_url port url
  vhost=gqlmq-cmp-$RUN_ID-$stack
  rmqctl add_vhost "$vhost"
  VHOSTS+=("$vhost")
  rmqctl set_permissions -p "$vhost" guest ".*" ".*" ".*"
  USERS_DB[$stack]=gqlmq_cmp_${RUN_ID}_${stack}_users ORDERS_DB[$stack]=gqlmq_cmp_${RUN_ID}_${stack}_orders
  for db in "${USERS_DB[$stack]}" "${ORDERS_DB[$stack]}"; do
    psql_admin -c "CREATE DATABASE $db"
    DATABASES+=("$db")
  done
  amqp=amqp://guest:guest@127.0.0.1:$AMQP_PORT/$vhost
  users_url=postgres://postgres@127.0.0.1:$PG_PORT/${USERS_DB[$stack]}
  orders_url=postgres://postgres@127.0.0.1:$PG_PORT/${ORDERS_DB[$stack]}
  free_port port
  url=http://127.0.0.1:$port
  URL[$stack]=$url
  local cache=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT/$REDIS_DB" CACHE_KEY_PREFIX="gqlmq-cmp-$RUN_ID-$stack")
  if [[ $stack == peer ]]; then
    launch peer-users NODE_ENV=production AMQP_URL="$amqp" USERS_DATABASE_URL="$users_url" -- node "$PEER/dist/main.js" users
    launch peer-orders NODE_ENV=production AMQP_URL="$amqp" ORDERS_DATABASE_URL="$orders_url" -- node "$PEER/dist/main.js" orders
    launch peer-gateway NODE_ENV=production AMQP_URL="$amqp" AUTH_SECRET="$AUTH_SECRET" "${cache[@]}" \
      LISTEN_ADDR="${url#http://}" -- node "$PEER/dist/main.js" gateway
    wait_ready peer-gateway "$url"
    TOKENS[$url]=$(make_admin "$url" USERS_DATABASE_URL="$users_url" node "$PEER/dist/main.js")
  else
    local bin=${BIN[$stack]}
    launch "$stack-users" AMQP_URL="$amqp" USERS_DATABASE_URL="$users_url" -- "$bin/users-worker"
    launch "$stack-orders" AMQP_URL="$amqp" ORDERS_DATABASE_URL="$orders_url" -- "$bin/orders-worker"
    launch "$stack-gateway" AMQP_URL="$amqp" AUTH_SECRET="$AUTH_SECRET" "${cache[@]}" LISTEN_ADDR="${url#http://}" \
      -- "$bin/gateway"
    wait_ready "$stack-gateway" "$url"
    TOKENS[$url]=$(make_admin "$url" USERS_DATABASE_URL="$users_url" AMQP_URL="$amqp" "$bin/users-worker")
  fi
  say "$stack: seeding $SEED_USERS users, one order each, and $ONE_USER_ORDERS more orders of the first"
  seed_users "$url" "$WORK/$stack.users"
  head -n 1 "$WORK/$stack.users" >"$WORK/$stack.one-user"
  paste -d' ' "$WORK/$stack.users" <(seq 1 "$SEED_USERS") | in_parallel 8 seed_order "$url"
  local one
  one=$(cat "$WORK/$stack.one-user")
  seq 1001 $((1000 + ONE_USER_ORDERS)) | sed "s/^/$one /" | in_parallel 8 seed_order "$url"
  pg_of "$stack" orders "SELECT id FROM orders WHERE user_id = '$one' AND item_description <> 'seed item 1' ORDER BY id" \
    >"$WORK/$stack.one-user-orders"
  pg_of "$stack" orders "SELECT id FROM orders WHERE item_description ~ '^seed item [0-9]{1,3}$' ORDER BY id" \
    >"$WORK/$stack.orders"
}

# delete_pool STACK KIND: inserts, in SQL, the orders the deleteOrder measurements of KIND (one,
# many) take: a slice of DELETE_SLICE per measurement, in files $WORK/STACK.delete-KIND.N.
delete_pool() {
  local stack=$1 kind=$2 count users columns values
  count=$((DELETE_SLICE * ROUNDS * ${#CONNECTIONS[@]}))
  if [[ $kind == one ]]; then users=$WORK/$stack.one-user; else users=$WORK/$stack.users; fi
  # Our orders keep cents; the peer's, numeric amounts.
  if [[ $stack == peer ]]; then
    columns="id, user_id, item_description, item_quantity, item_price, total_value, created_at, updated_at"
    values="1, 1.00, 1.00"
  else
    columns="id, user_id, item_description, item_quantity, item_price_cents, total_value_cents, created_at, updated_at"
    values="1, 100, 100"
  fi
  pg_of "$stack" orders "
    WITH users AS (SELECT array_agg(id::uuid) AS ids FROM unnest(string_to_array('$(paste -sd, "$users")', ',')) AS id)
    INSERT INTO orders ($columns)
    SELECT gen_random_uuid(), ids[1 + n % array_length(ids, 1)], 'bench delete $kind', $values, now(), now()
    FROM users, generate_series(1, $count) AS n"
  pg_of "$stack" orders "SELECT id FROM orders WHERE item_description = 'bench delete $kind' ORDER BY random()" |
    split -l "$DELETE_SLICE" -d -a 3 - "$WORK/$stack.delete-$kind."
}

# measure STACK KEY SCENARIO CONNECTIONS ROUND IDS_FILE: one measurement, kept in $RESULTS.
measure() {
  local stack=$1 key=$2 scenario=$3 c=$4 round=$5 ids=$6 url=${URL[$1]} token result
  token=${TOKENS[$url]}
  [[ $scenario == typename ]] && token=""
  local names=("$stack-gateway" "$stack-users" "$stack-orders")
  result=$(wrk_measure "$scenario" "$url" "$c" "$SECONDS_EACH" "$ids" "$round" "$token" "${names[@]}")
  jq -c --arg stack "$stack" --arg key "$key" --argjson c "$c" --argjson round "$round" \
    '{stack: $stack, key: $key, connections: $c, round: $round} + .' <<<"$result" >>"$RESULTS"
  jq -r '"    \(.stack) \(.connections) conn: \(.rps | floor) req/s, p50 \(.p50_us) µs, errors \(.errors)\(if .first_error then " (" + .first_error[0:120] + ")" else "" end)"' \
    <<<"$(tail -n 1 "$RESULTS")" >&2
}

# compare KEY LABEL SCENARIO IDS_SUFFIX [warm]: the scenario on every stack, every connection
# count, every round; the ids of stack S are in $WORK/S.IDS_SUFFIX (for deletes: the slice
# numbered after the measurement).
declare -A LABELS=()
KEYS=()
compare() {
  local key=$1 label=$2 scenario=$3 suffix=$4 warm=${5:-} round c i stack slice=0 ids
  wanted "$key" || return 0
  LABELS[$key]=$label
  KEYS+=("$key")
  say "$label"
  if [[ $warm == warm ]]; then
    for stack in "${STACKS[@]}"; do
      wrk_measure "$scenario" "${URL[$stack]}" 16 2 "${suffix:+$WORK/$stack.$suffix}" 0 "${TOKENS[${URL[$stack]}]}" \
        "$stack-gateway" >/dev/null
    done
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    for c in "${CONNECTIONS[@]}"; do
      for ((i = 0; i < ${#STACKS[@]}; i++)); do
        stack=${STACKS[$(((i + round + slice) % ${#STACKS[@]}))]}
        ids=""
        if [[ $scenario == delete_order ]]; then
          ids=$WORK/$stack.$suffix.$(printf '%03d' "$slice")
        elif [[ -n $suffix ]]; then
          ids=$WORK/$stack.$suffix
        fi
        measure "$stack" "$key" "$scenario" "$c" "$round" "$ids"
      done
      slice=$((slice + 1))
    done
  done
}

format_report() {
  # The scenarios in the order they ran, and their labels, for jq.
  local keys labels
  keys=$(printf '%s\n' "${KEYS[@]}" | jq -R . | jq -s .)
  labels=$(for k in "${!LABELS[@]}"; do jq -n --arg k "$k" --arg v "${LABELS[$k]}" '{($k): $v}'; done | jq -s 'add // {}')
  cat <<EOF
Measured $(date -u '+%Y-%m-%d %H:%M UTC'): "after" is commit \`$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':(exclude)BENCHMARKS.md' 2>/dev/null || echo ' (with uncommitted changes)')\`, "before" is \`$(git rev-parse --short "$BEFORE")\` (before issue 18), "peer" the NestJS build of \`scripts/bench/nestjs-peer\`. With:

\`\`\`sh
BENCH_SECONDS=$SECONDS_EACH BENCH_CONNECTIONS="${CONNECTIONS[*]}" BENCH_ROUNDS=$ROUNDS scripts/bench-compare.sh
\`\`\`

${SECONDS_EACH} s per measurement; each row is the mean of $ROUNDS rounds, and in every round the three stacks ran
one after the other at each connection count, starting with a different one each time. All three stacks, the
shared PostgreSQL, RabbitMQ and Redis, and wrk share this machine's $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')); Node $(node --version), load average at the start: $LOAD_AT_START.

| scenario | conns | before req/s | after req/s | peer req/s | after ÷ before | after ÷ peer | p50 before / after / peer | errors |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |
$(jq -rs --argjson keys "$keys" --argjson labels "$labels" '
  def lat: if . < 1000 then "\(round) µs" elif . < 10000 then "\((. / 10 | round) / 100) ms" else "\((. / 100 | round) / 10) ms" end;
  def mean(f): (map(f) | add) / length;
  def r2: (. * 100 | round) / 100;
  group_by([.key, .connections]) as $groups
  | $keys[] as $key
  | $groups[] | select(.[0].key == $key)
  | (map(select(.stack == "before")) | mean(.rps)) as $b
  | (map(select(.stack == "after")) | mean(.rps)) as $a
  | (map(select(.stack == "peer")) | mean(.rps)) as $p
  | "| \($labels[$key]) | \(.[0].connections) | \($b | round) | \($a | round) | \($p | round) | \(($a / $b) | r2) × | \(($a / $p) | r2) × | "
    + ([ "before", "after", "peer" ] as $order | [ $order[] as $s | map(select(.stack == $s)) | mean(.p50_us) | lat ] | join(" / "))
    + " | \(map(.errors) | add) |"' "$RESULTS")

CPU each process spent per request, in µs (mean of the rounds): gateway / users / orders / PostgreSQL / RabbitMQ / Redis,
and their sum. The peer's gateway and services are its three \`node\` processes.

| scenario | conns | before | after | peer | sum before / after / peer |
| --- | ---: | --- | --- | --- | --- |
$(jq -rs --argjson keys "$keys" --argjson labels "$labels" '
  def parts: [.gateway, .users, .orders, .postgres, .rabbitmq, .redis];
  def cpu(s): map(select(.stack == s) | .cpu_us | parts) | transpose | map(add / length);
  def show: map(if . >= 100 then "\(round)" else "\((. * 10 | round) / 10)" end) | join(" / ");
  group_by([.key, .connections]) as $groups
  | $keys[] as $key
  | $groups[] | select(.[0].key == $key)
  | "| \($labels[$key]) | \(.[0].connections) | \(cpu("before") | show) | \(cpu("after") | show) | \(cpu("peer") | show) | "
    + ([ "before", "after", "peer" ] as $order | [ $order[] as $s | cpu($s) | add | round | tostring ] | join(" / ")) + " |"' "$RESULTS")

**Targets** (issue 18):

$(jq -rs '
  def mean(f): (map(f) | add) / length;
  def r3: (. * 1000 | round) / 1000;
  (map(select(.stack == "after")) | group_by([.key, .connections]) | map({key: .[0].key, c: .[0].connections, rps: mean(.rps)})) as $after
  | (map(select(.stack == "peer")) | group_by([.key, .connections]) | map({key: .[0].key, c: .[0].connections, rps: mean(.rps)})) as $peer
  | ($after | map(select(.key | test("^(create|update|delete)"))) | map(. as $a | ($peer[] | select(.key == $a.key and .c == $a.c) | .rps) as $p | "- \($a.key) at \($a.c) connections: \(($a.rps / $p) | r3) × the peer — \(if $a.rps >= 2 * $p then "**met**" else "**missed**" end)"))[],
    ($after | map(select(.key == "answers")) | map(. as $a | ($after[] | select(.key == "typename" and .c == $a.c) | .rps) as $f | "- 100 orders with their users, repeated, at \($a.c) connections: \(($a.rps / $f) | r3) × the `{ __typename }` floor (≥ 0.3) — \(if $a.rps >= 0.3 * $f then "**met**" else "**missed**" end)"))[]' "$RESULTS")
EOF
}

# ---------------------------------------------------------------------------------------------

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_services
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
  say "installing from Debian's packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || say "warning: apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
command -v node >/dev/null || die "the NestJS peer needs Node.js (20 or later)"

BIN[before]=${BENCH_BEFORE_BINARIES:-$(binaries_of "$BEFORE")}
if [[ -n ${BENCH_AFTER_BINARIES:-} ]]; then
  BIN[after]=$BENCH_AFTER_BINARIES
else
  say "building this checkout's release binaries"
  cargo build --release -p gateway -p users-worker -p orders-worker --bins
  BIN[after]=$CARGO_TARGET_DIR/release
fi
say "building the NestJS peer"
"$PEER/build.sh" >&2

WORK=$(mktemp -d)
RESULTS=$WORK/results.jsonl
REDIS_DB=$(claim_redis_db "bench-compare-$RUN_ID") || die "every Redis db 1..$REDIS_RUN_DBS is held by another run"
redis -n "$REDIS_DB" FLUSHDB >/dev/null
AUTH_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
for stack in "${STACKS[@]}"; do start_stack "$stack"; done
say "all running: before ${URL[before]}, after ${URL[after]}, peer ${URL[peer]}"

# Reads first, then updates (which keep the row count), then creates, then deletes.
compare typename '`{ __typename }` (floor)' typename ""
compare answers '100 orders with their users, cached' orders "" warm
compare update_order_one '`updateOrder`, one user' update_order one-user-orders
compare update_order_many '`updateOrder`, 100 users' update_order orders
compare update_user_one '`updateUser`, one user' update_user one-user
compare update_user_many '`updateUser`, 100 users' update_user users
compare create_order_one '`createOrder`, one user' create_order one-user
compare create_order_many '`createOrder`, 100 users' create_order users
if wanted delete_order_one || wanted delete_order_many; then
  say "inserting the orders the deletes take"
  for stack in "${STACKS[@]}"; do
    delete_pool "$stack" one
    delete_pool "$stack" many
  done
fi
compare delete_order_one '`deleteOrder`, one user' delete_order delete-one
compare delete_order_many '`deleteOrder`, 100 users' delete_order delete-many

format_report >"$WORK/report.md"
echo
cat "$WORK/report.md"
[[ -n ${BENCH_RAW:-} ]] && cp "$RESULTS" "$BENCH_RAW"
if [[ -n $OUTPUT ]]; then
  if ! grep -qxF "$BEGIN_MARK" "$OUTPUT" 2>/dev/null; then
    printf '\n## Writes and whole answers beside the NestJS peer (issue 18)\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$OUTPUT"
  fi
  write_between "$OUTPUT" "$BEGIN_MARK" "$END_MARK" "$WORK/report.md"
  say "wrote the results to $OUTPUT"
fi
