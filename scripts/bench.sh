#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown here, not commands
# The benchmark suite: `scripts/bench.sh` (BENCH_SECONDS=2 for a smoke run).
#
# Shows where a request's time goes, layer by layer, in one run, beside the floors the machine
# allows. Against the local PostgreSQL, Redis and RabbitMQ (found, started or installed:
# scripts/lib/services.sh) it:
#
# 1. gives the run its own RabbitMQ vhost (gqlmq-bench-<id>), databases (gqlmq_bench_<id>_users,
#    _orders), Redis db (claimed as scripts/test.sh claims its own) and cache key prefix;
# 2. builds the release binaries and the two measuring examples (gateway/examples/rpc_ping.rs,
#    users-worker/examples/hash_time.rs), and installs wrk and jq from Debian if missing;
# 3. starts users-worker, orders-worker and four gateways: "cached" (Redis field cache),
#    "uncached" (CACHE_TTL_SECONDS=0), "embedded" (no AMQP_URL: in-process services on SQLite,
#    in-process cache) and "embedded, uncached"; waits for each one's /readyz;
# 4. seeds, through GraphQL: 100 users and 100 orders (one per user) over RabbitMQ, and 100 users
#    in each embedded gateway;
# 5. measures each scenario at BENCH_CONNECTIONS (1, 16 and 64) for BENCH_SECONDS each: GraphQL
#    with wrk (scripts/bench/graphql.lua: a response that is not 200, or whose body has "errors",
#    is an error), the RabbitMQ ping with rpc_ping, Redis GET with redis-benchmark;
# 6. prints the table and writes it to BENCHMARKS.md between its markers (the prose below them
#    stays), with the machine, the versions, the command and the targets of the issue;
# 7. cleans up, also after a failure or Ctrl-C: processes, vhost, databases, Redis db.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS ("1 16 64"), BENCH_WARMUP_SECONDS (2),
# BENCH_WRK_THREADS (2: wrk's threads, at most one per connection), BENCH_OUTPUT (BENCHMARKS.md;
# empty: print only), BENCH_RAW (a file to keep every measurement in, one JSON line each),
# BENCH_ONLY (scenario keys to run, e.g. "typename user_uncached"; a partial run prints its
# table and writes no BENCHMARKS.md unless BENCH_OUTPUT says where), BENCH_HOLD (a file: start and
# seed the stack, write its addresses and process ids there as shell variables, measure nothing,
# and keep it running until that file is removed, for profiling by hand), BENCH_BINARIES (a
# folder of release binaries to measure instead of building this checkout's).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh

readonly SECONDS_EACH=${BENCH_SECONDS:-10}
read -r -a CONNECTIONS <<<"${BENCH_CONNECTIONS:-1 16 64}"
readonly WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-2}
readonly WRK_THREADS=${BENCH_WRK_THREADS:-2}
read -r -a ONLY <<<"${BENCH_ONLY:-}"
if ((${#ONLY[@]})); then readonly OUTPUT=${BENCH_OUTPUT-}; else readonly OUTPUT=${BENCH_OUTPUT-BENCHMARKS.md}; fi
readonly SEED_USERS=100 SEED_ORDERS=100
# Where the binaries are: this checkout's release build, or BENCH_BINARIES (a folder holding
# gateway, users-worker, orders-worker and examples/rpc_ping, examples/hash_time) to measure
# another build, such as an older commit's for an A/B.
readonly BIN_DIR=${BENCH_BINARIES:-$CARGO_TARGET_DIR/release}
readonly BEGIN_MARK='<!-- BEGIN scripts/bench.sh output: replaced by each run -->'
readonly END_MARK='<!-- END scripts/bench.sh output -->'

if ! [[ $SECONDS_EACH =~ ^[1-9][0-9]*$ ]]; then die "BENCH_SECONDS must be a whole number of seconds"; fi
command_line="BENCH_SECONDS=$SECONDS_EACH"
[[ -n ${BENCH_CONNECTIONS:-} ]] && command_line+=" BENCH_CONNECTIONS=\"${CONNECTIONS[*]}\""
[[ -n ${BENCH_WRK_THREADS:-} ]] && command_line+=" BENCH_WRK_THREADS=$WRK_THREADS"
((${#ONLY[@]})) && command_line+=" BENCH_ONLY=\"${ONLY[*]}\""
command_line+=" scripts/bench.sh"

# What cleanup() must undo; each is set once the thing exists.
RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
VHOST="" DATABASES=() REDIS_DB="" WORK=""

cleanup() {
  local status=$? db
  trap - EXIT
  # A reader of our output that is gone (a `| tee` stopped by the same Ctrl-C) must not stop
  # the cleanup half-way.
  trap '' PIPE
  set +e
  stop_processes
  if [[ -n $VHOST ]]; then
    rmqctl delete_vhost "$VHOST" && say "deleted RabbitMQ vhost $VHOST"
  fi
  for db in "${DATABASES[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" && say "dropped database $db"
  done
  if [[ -n $REDIS_DB ]]; then
    release_redis_db "$REDIS_DB"
  fi
  [[ -n $WORK ]] && rm -rf "$WORK"
  return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Measuring: every result is one JSON line in $RESULTS.

# record KEY LABEL PATH FLOOR CONNECTIONS JSON: keeps one measurement.
record() {
  jq -c --arg key "$1" --arg name "$2" --arg path "$3" --arg floor "$4" --argjson c "$5" \
    '{key: $key, label: $name, path: $path, floor: $floor, connections: $c} + .' <<<"$6" >>"$RESULTS"
  jq -r '"    \(.connections) conn: \(.rps | floor) req/s, p50 \(.p50_us) µs, p99 \(.p99_us) µs, errors \(.errors)"' \
    <<<"$(tail -n 1 "$RESULTS")" >&2
}

# gateway_named URL: the name `start` gave the gateway at URL.
gateway_named() {
  case $1 in
    "$CACHED") echo gateway-cached ;;
    "$UNCACHED") echo gateway-uncached ;;
    "$EMBEDDED") echo gateway-embedded ;;
    "$EMBEDDED_UNCACHED") echo gateway-embedded-uncached ;;
  esac
}

# wrk_once SCENARIO URL CONNECTIONS SECONDS [IDS_FILE] [TAG]: prints wrk's BENCH_JSON, with the
# CPU each part spent per request (`cpu_us`). The floor runs signed out; everything else as the
# admin.
wrk_once() {
  local scenario=$1 url=$2 token=${TOKENS[$2]:-}
  [[ $scenario == typename ]] && token=""
  wrk_measure "$scenario" "$url" "$3" "$4" "${5:-}" "${6:-1}" "$token" "$(gateway_named "$url")"
}

# bench_graphql KEY LABEL PATH SCENARIO URL [IDS_FILE] [warm]: one scenario at each connection count.
bench_graphql() {
  local key=$1 label=$2 path=$3 scenario=$4 url=$5 ids=${6:-} warm=${7:-} c tag=0 result first_error
  wanted "$key" || return 0
  say "$label"
  if [[ $warm == warm ]]; then wrk_once "$scenario" "$url" 16 "$WARMUP_SECONDS" "$ids" 9 >/dev/null; fi
  for c in "${CONNECTIONS[@]}"; do
    tag=$((tag + 1))
    result=$(wrk_once "$scenario" "$url" "$c" "$SECONDS_EACH" "$ids" "$tag")
    record "$key" "$label" "$path" typename "$c" "$result"
    first_error=$(jq -r '.first_error // empty' <<<"$result")
    [[ -z $first_error ]] || say "    first error: $first_error"
    sleep 1
  done
}

# bench_rpc KEY LABEL PATH FLOOR [ARGS...]: the rpc_ping example at every connection count.
bench_rpc() {
  local key=$1 label=$2 path=$3 floor=$4 line list
  shift 4
  wanted "$key" || return 0
  say "$label"
  list=$(
    IFS=,
    echo "${CONNECTIONS[*]}"
  )
  while read -r line; do
    record "$key" "$label" "$path" "$floor" "$(jq .concurrency <<<"$line")" "$line"
  done < <("$BIN_DIR/examples/rpc_ping" --amqp-url "$AMQP_URL" --concurrency "$list" \
    --seconds "$SECONDS_EACH" "$@")
}

bench_redis_get() {
  local c csv rps requests
  wanted redis_get || return 0
  say "Redis GET round trip (redis-benchmark, a 300-byte value)"
  redis -n "$REDIS_DB" SET 'key:__rand_int__' "$(head -c 300 /dev/zero | tr '\0' x)" >/dev/null
  for c in "${CONNECTIONS[@]}"; do
    # redis-benchmark counts requests, not seconds: a short run tells how many fill the time.
    rps=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" --dbnum "$REDIS_DB" -t get -c "$c" -n 5000 --csv |
      awk -F'","' 'NR == 2 { print int($2) }')
    requests=$((rps * SECONDS_EACH))
    csv=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" --dbnum "$REDIS_DB" -t get -c "$c" -n "$requests" --csv |
      tail -n 1 | tr -d '"')
    # test,rps,avg_latency_ms,min_latency_ms,p50_latency_ms,p95_latency_ms,p99_latency_ms,max_latency_ms
    record redis_get "Redis GET" "redis-benchmark → Redis" redis_get "$c" "$(awk -F, -v n="$requests" '{
      printf "{\"requests\":%d,\"rps\":%s,\"p50_us\":%d,\"p99_us\":%d,\"mean_us\":%d,\"errors\":0}", n, $2, $5 * 1000, $7 * 1000, $3 * 1000 }' <<<"$csv")"
    sleep 1
  done
}

# ---------------------------------------------------------------------------------------------
# The report.

format_report() {
  local hash_json=$1
  cat <<EOF
Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':(exclude)BENCHMARKS.md' 2>/dev/null || echo ' (with uncommitted changes)')\`, with:

\`\`\`sh
$command_line
\`\`\`

${SECONDS_EACH} s per measurement, after a ${WARMUP_SECONDS} s warm-up for the read scenarios. Everything runs on this
one machine: the load generators take CPU from the system they measure.

- **Machine**: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"'), Linux $(uname -r); load average at the start: $LOAD_AT_START.
- **Versions**: $(rustc --version | cut -d' ' -f1-2), PostgreSQL $(psql_admin -c 'SHOW server_version' | cut -d' ' -f1), RabbitMQ $(rmqctl version 2>/dev/null | head -n 1) (Erlang/OTP $(rmqctl eval 'erlang:system_info(otp_release).' 2>/dev/null | tr -d '"')), Redis $(redis INFO server | tr -d '\r' | awk -F: '/^redis_version/ { print $2 }'), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $(redis-benchmark --version | cut -d' ' -f1-2); crates: $(for crate in async-graphql axum lapin sea-orm sqlx redis tokio; do awk -v c="$crate" '$0 == "name = \"" c "\"" { getline; gsub(/version = |"/, ""); printf "%s %s, ", c, $0; exit }' Cargo.lock; done | sed 's/, $//').
- **Setup**: users-worker and orders-worker (RPC_PREFETCH 32) on PostgreSQL through RabbitMQ; gateways with the
  defaults but for the cache: "cached" (Redis, TTL 30 s), "uncached" (\`CACHE_TTL_SECONDS=0\`), "embedded"
  (no \`AMQP_URL\`: both services in the gateway's process on SQLite, in-process cache) and "embedded,
  uncached". Seeded with $SEED_USERS users and $SEED_ORDERS orders (one per user); reads cycle over the $SEED_USERS users.
- **Argon2id** (m = $(jq .memory_kib <<<"$hash_json") KiB, t = $(jq .iterations <<<"$hash_json"), p = $(jq .parallelism <<<"$hash_json")): one hash takes $(jq .median_ms <<<"$hash_json") ms (median of $(jq .runs <<<"$hash_json"); $(jq .min_ms <<<"$hash_json")–$(jq .max_ms <<<"$hash_json") ms), and the users service hashes $(jq .slots <<<"$hash_json") at a time: at most **$(jq .max_per_second <<<"$hash_json") createUser/s** here.

Requests per second, latency percentiles as the client saw them, errors (socket errors, timeouts, responses
that are not 200 or carry \`errors\`), and the ratio of the rate to its floor at the same connections
(GraphQL rows: \`{ __typename }\`).

The last column is the CPU each process spent per request during the measurement, in µs: the
gateway measured, users-worker, orders-worker, PostgreSQL (every backend), RabbitMQ and Redis,
from \`/proc/<pid>/stat\` (10 ms ticks: short runs round). The embedded gateways hold both services.

| scenario | path | conns | req/s | p50 | p99 | errors | × floor | CPU µs/req: gw / users / orders / pg / mq / redis |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
$(jq -rs '
  def ratio: if . >= 0.1 then "\((. * 100 | round) / 100)" else "\((. * 1000 | round) / 1000)" end;
  def lat: if . < 1000 then "\(.) µs" elif . < 10000 then "\((. / 10 | round) / 100) ms" else "\((. / 100 | round) / 10) ms" end;
  (map(select(.key == "typename")) | map({(.connections | tostring): .rps}) | add) as $floor
  | .[]
  | "| \(.label) | \(.path) | \(.connections) | \(.rps | round) | \(.p50_us | lat) | \(.p99_us | lat) | \(.errors) | "
    + (if .floor == .key then "floor" elif .floor == "layer" then "layer"
       elif $floor[.connections | tostring] then (.rps / $floor[.connections | tostring]) | ratio
       else "–" end) + " | "
    + (if .cpu_us then [.cpu_us.gateway, .cpu_us.users, .cpu_us.orders, .cpu_us.postgres, .cpu_us.rabbitmq, .cpu_us.redis]
         | map(if . >= 100 then "\(round)" else "\((. * 10 | round) / 10)" end) | join(" / ") else "–" end) + " |"' "$RESULTS")

**Targets** (the issue's, on this 2-core machine):

$(jq -rs '
  def at(k; c): (map(select(.key == k and .connections == c)) | first) // null;
  def ok(b): if b then "**met**" else "**missed**" end;
  def r3: (. * 1000 | round) / 1000;
  (at("typename"; 64)) as $floor64 | (at("user_cached"; 64)) as $cached64 | (at("user_uncached"; 64)) as $uncached64
  | (at("user_uncached"; 1)) as $uncached1 | (at("orders_uncached"; 1)) as $orders1
  | (map(.errors) | add) as $errors
  | [ if $floor64 and $cached64 then
        "- cached `user(id)` ≥ 0.5 × the `{ __typename }` floor at 64 connections: \(($cached64.rps / $floor64.rps) | r3) × — \(ok($cached64.rps >= 0.5 * $floor64.rps))"
      else "- cached `user(id)` at 64 connections: not measured" end,
      if $floor64 and $uncached64 then
        "- uncached `user(id)` ≥ 0.12 × that floor: \(($uncached64.rps / $floor64.rps) | r3) × — \(ok($uncached64.rps >= 0.12 * $floor64.rps))"
      else "- uncached `user(id)` at 64 connections: not measured" end,
      if $uncached1 then
        "- uncached `user(id)` p50 < 600 µs at 1 connection: \($uncached1.p50_us) µs — \(ok($uncached1.p50_us < 600))"
      else "- uncached `user(id)` at 1 connection: not measured" end,
      if $orders1 and $uncached1 then
        "- 100 orders with their users: p50 < 2 × one uncached `user(id)` at 1 connection: \($orders1.p50_us) µs vs 2 × \($uncached1.p50_us) µs — \(ok($orders1.p50_us < 2 * $uncached1.p50_us))"
      else "- 100 orders with their users at 1 connection: not measured" end,
      "- no errors at any concurrency: \($errors) — \(ok($errors == 0))"
    ] | .[]' "$RESULTS")
EOF
}

# write_report FILE SECTION_FILE: replaces what lies between the markers, keeping the rest.
write_report() {
  local file=$1 section=$2
  if [[ ! -f $file ]] || ! grep -qxF "$BEGIN_MARK" "$file" || ! grep -qxF "$END_MARK" "$file"; then
    {
      printf '# Benchmarks\n\nWhere the time goes, layer by layer, beside the floors this machine allows. `scripts/bench.sh`\n'
      printf 'writes everything between the markers below; the reading after them is written by hand.\n\n'
      printf '%s\n%s\n\n## Reading\n\n(To be written from a run on a quiet machine.)\n' "$BEGIN_MARK" "$END_MARK"
    } >"$file"
  fi
  write_between "$file" "$BEGIN_MARK" "$END_MARK" "$section"
}

# ---------------------------------------------------------------------------------------------

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_services
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v jq >/dev/null || missing+=(jq)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
if ((${#missing[@]})); then
  say "installing from Debian's packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || say "warning: apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

if [[ -n ${BENCH_BINARIES:-} ]]; then
  say "measuring the binaries in $BIN_DIR (BENCH_BINARIES), not building"
else
  say "building the release binaries and the measuring examples"
  cargo build --release -p gateway -p users-worker -p orders-worker --bins --example rpc_ping --example hash_time
fi

WORK=$(mktemp -d)
RESULTS=$WORK/results.jsonl
VHOST=gqlmq-bench-$RUN_ID
rmqctl add_vhost "$VHOST"
rmqctl set_permissions -p "$VHOST" guest ".*" ".*" ".*"
USERS_DB=gqlmq_bench_${RUN_ID}_users ORDERS_DB=gqlmq_bench_${RUN_ID}_orders
for db in "$USERS_DB" "$ORDERS_DB"; do
  psql_admin -c "CREATE DATABASE $db"
  DATABASES+=("$db")
done
REDIS_DB=$(claim_redis_db "bench-$RUN_ID") || die "every Redis db 1..$REDIS_RUN_DBS is held by another run"
redis -n "$REDIS_DB" FLUSHDB >/dev/null
say "run $RUN_ID: vhost $VHOST, databases $USERS_DB and $ORDERS_DB, Redis db $REDIS_DB"

AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/$VHOST
AUTH_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/$REDIS_DB
PREFIX=gqlmq-bench-$RUN_ID
free_port port && CACHED=http://127.0.0.1:$port
free_port port && UNCACHED=http://127.0.0.1:$port
free_port port && EMBEDDED=http://127.0.0.1:$port
free_port port && EMBEDDED_UNCACHED=http://127.0.0.1:$port
mkdir -p "$WORK/embedded" "$WORK/embedded-uncached"

start users-worker users-worker AMQP_URL="$AMQP_URL" USERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$USERS_DB"
start orders-worker orders-worker AMQP_URL="$AMQP_URL" ORDERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$ORDERS_DB"
start gateway-cached gateway AMQP_URL="$AMQP_URL" AUTH_SECRET="$AUTH_SECRET" REDIS_URL="$REDIS_URL" CACHE_KEY_PREFIX="$PREFIX" \
  LISTEN_ADDR="${CACHED#http://}"
start gateway-uncached gateway AMQP_URL="$AMQP_URL" AUTH_SECRET="$AUTH_SECRET" REDIS_URL="$REDIS_URL" CACHE_KEY_PREFIX="$PREFIX" \
  CACHE_TTL_SECONDS=0 LISTEN_ADDR="${UNCACHED#http://}"
start gateway-embedded gateway DATA_DIR="$WORK/embedded" LISTEN_ADDR="${EMBEDDED#http://}"
start gateway-embedded-uncached gateway DATA_DIR="$WORK/embedded-uncached" CACHE_TTL_SECONDS=0 \
  LISTEN_ADDR="${EMBEDDED_UNCACHED#http://}"
wait_ready gateway-cached "$CACHED"
wait_ready gateway-uncached "$UNCACHED"
wait_ready gateway-embedded "$EMBEDDED"
wait_ready gateway-embedded-uncached "$EMBEDDED_UNCACHED"
say "all running: cached $CACHED, uncached $UNCACHED, embedded $EMBEDDED, embedded uncached $EMBEDDED_UNCACHED"

TOKENS[$CACHED]=$(make_admin "$CACHED" USERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$USERS_DB" \
  AMQP_URL="$AMQP_URL" "$BIN_DIR/users-worker")
TOKENS[$UNCACHED]=${TOKENS[$CACHED]}
TOKENS[$EMBEDDED]=$(make_admin "$EMBEDDED" DATA_DIR="$WORK/embedded" "$BIN_DIR/gateway")
TOKENS[$EMBEDDED_UNCACHED]=$(make_admin "$EMBEDDED_UNCACHED" DATA_DIR="$WORK/embedded-uncached" "$BIN_DIR/gateway")
say "signed in an admin on each deployment (benchadmin)"
say "seeding: $SEED_USERS users and $SEED_ORDERS orders over RabbitMQ, $SEED_USERS users in each embedded gateway"
seed_users "$CACHED" "$WORK/users.ids"
paste -d' ' <(head -n "$SEED_ORDERS" "$WORK/users.ids") <(seq 1 "$SEED_ORDERS") | in_parallel 8 seed_order "$CACHED"
seed_users "$EMBEDDED" "$WORK/embedded.ids"
seed_users "$EMBEDDED_UNCACHED" "$WORK/embedded-uncached.ids"

if [[ -n ${BENCH_HOLD:-} ]]; then
  {
    printf 'CACHED=%q\nUNCACHED=%q\nEMBEDDED=%q\nEMBEDDED_UNCACHED=%q\n' "$CACHED" "$UNCACHED" "$EMBEDDED" "$EMBEDDED_UNCACHED"
    printf 'AMQP_URL=%q\nREDIS_URL=%q\nUSERS_IDS=%q\nLOGS=%q\n' "$AMQP_URL" "$REDIS_URL" "$WORK/users.ids" "$WORK"
    for i in "${!NAMES[@]}"; do printf 'PID_%s=%s\n' "${NAMES[$i]//-/_}" "${PIDS[$i]}"; done
  } >"$BENCH_HOLD.tmp"
  mv "$BENCH_HOLD.tmp" "$BENCH_HOLD"
  say "holding the seeded stack for profiling (its addresses in $BENCH_HOLD); remove that file to stop it"
  while [[ -f $BENCH_HOLD ]]; do sleep 1; done
  exit 0
fi

say "argon2id hash time"
HASH_JSON=$("$BIN_DIR/examples/hash_time" 20)

# Floors first, then reads, then writes (which add rows the reads would otherwise see).
bench_graphql typename '`{ __typename }`' "HTTP + GraphQL, no I/O (cached gateway)" typename "$CACHED" "" warm
bench_graphql typename_signed_in '`{ __typename }` with a token' "the floor, plus checking an admin's token" \
  typename_signed_in "$CACHED" "" warm
bench_rpc rpc_ping "RPC ping via RabbitMQ" "rpc_ping example → RabbitMQ → users-worker → back" rpc_ping
bench_rpc rpc_get "RPC \`users.get\` via RabbitMQ" "rpc_ping example → RabbitMQ → users-worker → PostgreSQL → back" \
  layer --ids-file "$WORK/users.ids"
bench_redis_get
bench_graphql user_cached '`user(id)` cached' "gateway → Redis hit" user "$CACHED" "$WORK/users.ids" warm
bench_graphql user_uncached '`user(id)` uncached' "gateway → RabbitMQ → users-worker → PostgreSQL" user \
  "$UNCACHED" "$WORK/users.ids" warm
bench_graphql orders_only_uncached '`orders(first: 100)` alone, uncached' \
  "one orders RPC → PostgreSQL, 100 rows" orders_only "$UNCACHED" "" warm
bench_graphql orders_uncached '`orders(first: 100)` + users, uncached' \
  "the orders RPC, then one batched users RPC (DataLoader)" orders "$UNCACHED" "" warm
bench_graphql orders_cached '`orders(first: 100)` + users, cached' \
  "the whole answer from Redis, checked against the 101 generations it read" orders "$CACHED" "" warm
bench_graphql embedded_cached '`user(id)` embedded' "in-process cache hit" user "$EMBEDDED" "$WORK/embedded.ids" warm
bench_graphql embedded_uncached '`user(id)` embedded, uncached' "in-process transport → SQLite" user \
  "$EMBEDDED_UNCACHED" "$WORK/embedded-uncached.ids" warm
bench_graphql update_user '`updateUser`' "RPC + PostgreSQL write, then Redis invalidation (cached gateway)" \
  update_user "$CACHED" "$WORK/users.ids"
bench_graphql create_order '`createOrder`' "user check + write, then Redis invalidation (cached gateway)" \
  create_order "$CACHED" "$WORK/users.ids"
bench_graphql create_user '`createUser`' \
  "bounded by argon2id: one hash takes $(jq .median_ms <<<"$HASH_JSON") ms, $(jq .slots <<<"$HASH_JSON") at a time" create_user "$CACHED"

format_report "$HASH_JSON" >"$WORK/report.md"
echo
cat "$WORK/report.md"
if [[ -n ${BENCH_RAW:-} ]]; then
  cp "$RESULTS" "$BENCH_RAW"
  say "kept the measurements in $BENCH_RAW"
fi
if [[ -n $OUTPUT ]]; then
  write_report "$OUTPUT" "$WORK/report.md"
  say "wrote the results to $OUTPUT"
fi
