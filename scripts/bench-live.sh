#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown here, not commands
# The live-updates benchmark (issue 17): `scripts/bench-live.sh` (LIVE_BENCH_SECONDS=5 for a
# smoke run).
#
# "1,000 subscribers on two gateways, 200 changes a second: delivery latency p50/p99 from commit
# to client, reads sent per change, memory per connection." Against the local PostgreSQL, Redis
# and RabbitMQ (found, started or installed: scripts/lib/services.sh) it:
#
# 1. gives the run its own RabbitMQ vhost (gqlmq-live-<id>), databases (gqlmq_live_<id>_users,
#    _orders), Redis db (claimed as scripts/test.sh claims its own) and cache key prefix;
# 2. builds the release binaries and the examples (gateway/examples/live_bench.rs measures);
# 3. starts users-worker and orders-worker, and for each scenario two fresh gateways sharing
#    the Redis field cache (as a deployment's gateways do), each waited for on /readyz;
# 4. runs the live_bench example once per scenario, 1,000 subscribers each:
#    - "spread:RATE": 100 users × 10 subscribers (500 per gateway), RATE updates/s over the 100
#      orders (the issue's 200/s, and 100/s);
#    - "hot:RATE": 1,000 subscribers all signed in as one user, following that user's one
#      order, RATE updates/s (10/s, and the 20/s first tried);
# 5. prints the table and writes it to BENCHMARKS.md between its own markers, under
#    "## Live updates (issue 17, 2026-12-01)" (the rest of the file stays as it is);
# 6. cleans up, also after a failure or Ctrl-C: processes, vhost, databases, Redis db.
#
# Environment: LIVE_BENCH_SECONDS (30: how long each scenario drives updates),
# LIVE_BENCH_SCENARIOS ("spread:200 spread:100 hot:10 hot:20"; other scenarios make a partial
# run, which writes no BENCHMARKS.md unless LIVE_BENCH_OUTPUT says where), LIVE_BENCH_OUTPUT
# (BENCHMARKS.md; empty: print only), LIVE_BENCH_RAW (a file to keep each scenario's JSON line
# in), LIVE_BENCH_BINARIES (a folder of release binaries, examples/live_bench included, to
# measure instead of building this checkout's).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

readonly SECONDS_EACH=${LIVE_BENCH_SECONDS:-30}
readonly DEFAULT_SCENARIOS="spread:200 spread:100 hot:10 hot:20"
read -r -a SCENARIOS <<<"${LIVE_BENCH_SCENARIOS:-$DEFAULT_SCENARIOS}"
# A partial run prints its table and writes no BENCHMARKS.md unless LIVE_BENCH_OUTPUT says where.
if [[ "${SCENARIOS[*]}" != "$DEFAULT_SCENARIOS" ]]; then
  readonly OUTPUT=${LIVE_BENCH_OUTPUT-}
else
  readonly OUTPUT=${LIVE_BENCH_OUTPUT-BENCHMARKS.md}
fi
readonly BIN_DIR=${LIVE_BENCH_BINARIES:-$CARGO_TARGET_DIR/release}
readonly SUBSCRIBERS=1000
readonly BEGIN_MARK='<!-- BEGIN scripts/bench-live.sh output: replaced by each run -->'
readonly END_MARK='<!-- END scripts/bench-live.sh output -->'
readonly SECTION_TITLE='## Live updates (issue 17, 2026-12-01)'

[[ $SECONDS_EACH =~ ^[1-9][0-9]*$ ]] || die "LIVE_BENCH_SECONDS must be a whole number of seconds"
for scenario in "${SCENARIOS[@]}"; do
  [[ $scenario =~ ^(spread|hot):[1-9][0-9]*$ ]] || die "a scenario is spread:RATE or hot:RATE, not $scenario"
done
command_line="LIVE_BENCH_SECONDS=$SECONDS_EACH"
[[ "${SCENARIOS[*]}" != "$DEFAULT_SCENARIOS" ]] && command_line+=" LIVE_BENCH_SCENARIOS=\"${SCENARIOS[*]}\""
command_line+=" scripts/bench-live.sh"

# What cleanup() must undo; each is set once the thing exists.
RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
VHOST="" DATABASES=() REDIS_DB="" WORK="" PIDS=() NAMES=() BENCH_PID=""

# stop_process INDEX: TERM, then KILL after 15 s.
stop_process() {
  local i=$1 deadline=$((SECONDS + 15))
  kill -TERM "${PIDS[$i]}" 2>/dev/null || true
  while kill -0 "${PIDS[$i]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "${PIDS[$i]}" 2>/dev/null; then
    say "warning: ${NAMES[$i]} did not stop in time; killing it"
    kill -KILL "${PIDS[$i]}" 2>/dev/null || true
  fi
  wait "${PIDS[$i]}" 2>/dev/null || true
}

# stop_named NAME...: stops those of our processes, forgets them.
stop_named() {
  local i name keep_pids=() keep_names=()
  for i in "${!PIDS[@]}"; do
    for name in "$@"; do [[ ${NAMES[$i]} == "$name" ]] && kill -TERM "${PIDS[$i]}" 2>/dev/null; done
  done
  for i in "${!PIDS[@]}"; do
    local stopped=""
    for name in "$@"; do [[ ${NAMES[$i]} == "$name" ]] && stopped=1; done
    if [[ -n $stopped ]]; then stop_process "$i"; else keep_pids+=("${PIDS[$i]}") keep_names+=("${NAMES[$i]}"); fi
  done
  PIDS=("${keep_pids[@]}") NAMES=("${keep_names[@]}")
}

stop_processes() {
  local i
  ((${#PIDS[@]})) || return 0
  say "stopping ${NAMES[*]}"
  for i in "${!PIDS[@]}"; do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for i in "${!PIDS[@]}"; do stop_process "$i"; done
  PIDS=() NAMES=()
}

cleanup() {
  local status=$? db
  trap - EXIT
  trap '' PIPE
  set +e
  if [[ -n $BENCH_PID ]]; then
    kill -TERM "$BENCH_PID" 2>/dev/null
    wait "$BENCH_PID" 2>/dev/null
  fi
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
  if [[ -n $WORK ]]; then
    if ((status != 0)); then
      for log in "$WORK"/*.log; do
        [[ -s $log ]] || continue
        say "last lines of ${log##*/}:"
        tail -n 15 "$log" >&2
      done
    fi
    rm -rf "$WORK"
  fi
  return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME BINARY [VAR=VALUE...]: runs a binary in the background with only these variables
# (and PATH, HOME), its output in $WORK/NAME.log.
start() {
  local name=$1 binary=$2
  shift 2
  env -i PATH="$PATH" HOME="$HOME" "$@" "$BIN_DIR/$binary" >>"$WORK/$name.log" 2>&1 &
  PIDS+=($!) NAMES+=("$name")
}

# pid_of NAME: the process id of one of our processes.
pid_of() {
  local i
  for i in "${!NAMES[@]}"; do [[ ${NAMES[$i]} == "$1" ]] && echo "${PIDS[$i]}" && return 0; done
  return 1
}

# wait_ready NAME URL: waits for URL/readyz, failing early if the process ends.
wait_ready() {
  local name=$1 url=$2 i pid
  pid=$(pid_of "$name")
  for ((i = 0; i < 240; i++)); do
    curl -fsS --max-time 3 "$url/readyz" >/dev/null 2>&1 && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$WORK/$name.log" >&2
      die "$name exited before it was ready"
    fi
    sleep 0.5
  done
  tail -n 30 "$WORK/$name.log" >&2
  die "$name is not ready after 120 s"
}

# start_gateways: two fresh gateways, a and b, sharing the cache; sets GATEWAY_A, GATEWAY_B.
start_gateways() {
  local port name
  for name in a b; do
    free_port port
    printf -v "GATEWAY_${name^^}" 'http://127.0.0.1:%s' "$port"
    start "gateway-$name" gateway AMQP_URL="$AMQP_URL" AUTH_SECRET="$AUTH_SECRET" REDIS_URL="$REDIS_URL" \
      CACHE_KEY_PREFIX="$PREFIX" LISTEN_ADDR="127.0.0.1:$port" LOG_FORMAT=json
  done
  wait_ready gateway-a "$GATEWAY_A"
  wait_ready gateway-b "$GATEWAY_B"
  say "gateways: a $GATEWAY_A (pid $(pid_of gateway-a)), b $GATEWAY_B (pid $(pid_of gateway-b))"
}

# warnings LOG...: what the gateways logged at WARN or ERROR, as a JSON object of counts by
# message.
warnings() {
  cat "$@" | jq -R 'fromjson? | select(.level == "WARN" or .level == "ERROR") | "\(.level): \(.fields.message)\(if .fields.error then " (\(.fields.error))" else "" end)"' |
    jq -s 'group_by(.) | map({key: .[0], value: length}) | from_entries'
}

# run_scenario KIND RATE: one run of the example on fresh gateways; its JSON line goes to
# $RESULTS. Each run signs up users of its own (nicknames and CPFs apart from the others').
SCENARIO_NUMBER=0
run_scenario() {
  local kind=$1 rate=$2 users line name
  SCENARIO_NUMBER=$((SCENARIO_NUMBER + 1))
  case $kind in
    spread) users=100 ;;
    hot) users=1 ;;
  esac
  name="$kind:$rate"
  say "scenario $name: $users user(s), $SUBSCRIBERS subscribers, $rate updates/s for $SECONDS_EACH s"
  start_gateways
  # In the background, so that a signal to this script runs its cleanup at once (which stops it).
  "$BIN_DIR/examples/live_bench" --gateways "$GATEWAY_A,$GATEWAY_B" \
    --pids "$(pid_of gateway-a),$(pid_of gateway-b)" --users "$users" --subscribers "$SUBSCRIBERS" \
    --rate "$rate" --seconds "$SECONDS_EACH" --scenario "$name" --prefix "r${SCENARIO_NUMBER}u" \
    --user-offset $((SCENARIO_NUMBER * 1000)) >"$WORK/result.json" &
  BENCH_PID=$!
  wait "$BENCH_PID" || die "live_bench failed in scenario $name"
  BENCH_PID=""
  line=$(tail -n 1 "$WORK/result.json")
  jq -e . >/dev/null <<<"$line" || die "live_bench printed no result for $name"
  line=$(jq -c --arg kind "$kind" --argjson warnings "$(warnings "$WORK/gateway-a.log" "$WORK/gateway-b.log")" \
    '. + {kind: $kind, gateway_warnings: $warnings}' <<<"$line")
  echo "$line" >>"$RESULTS"
  jq -r '"  \(.changes) changes at \(.achieved_rate)/s; deliveries \(.received_deliveries)/\(.expected_deliveries), missing \(.missing), extra \(.duplicates); p50 \(.latency_p50_ms) ms, p99 \(.latency_p99_ms) ms; \(.reads_per_change) reads/change; \(.kib_per_connection) KiB/connection; gateway warnings \(.gateway_warnings)"' <<<"$line" >&2
  stop_named gateway-a gateway-b
  mv "$WORK/gateway-a.log" "$WORK/gateway-a.$SCENARIO_NUMBER.log.old"
  mv "$WORK/gateway-b.log" "$WORK/gateway-b.$SCENARIO_NUMBER.log.old"
}

format_report() {
  cat <<EOF
Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':(exclude)BENCHMARKS.md' 2>/dev/null || echo ' (with uncommitted changes)')\`, with:

\`\`\`sh
$command_line
\`\`\`

- **Machine**: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"'), Linux $(uname -r); load average at the start: $LOAD_AT_START. Everything on it: RabbitMQ, PostgreSQL, Redis, both workers, both gateways and the load generator with its $SUBSCRIBERS WebSockets.
- **Setup**: users-worker and orders-worker on PostgreSQL through RabbitMQ; for each scenario two fresh
  gateways (defaults; one Redis field cache, TTL 30 s, shared as a deployment's gateways share it).
  \`gateway/examples/live_bench.rs\` signs up the users (each with one order), opens $SUBSCRIBERS subscribers
  (raw \`graphql-transport-ws\`: \`subscription { orderChanges { kind orderId order { id totalValue updatedAt user { nickName } } } }\`),
  each user's spread evenly over the two gateways; waits until both gateways run them all and each
  subscriber got one warm-up change; then sends \`updateOrder\` for ${SECONDS_EACH} s on an open-loop schedule
  (update k at k / rate), alternating gateways, round-robin over the orders. *spread*: 100 users × 10
  subscribers; *hot*: 1,000 subscribers signed in as one user, following its one order.
- **Columns**: *rate*: changes committed per second (the target in brackets). *deliveries*: received
  / expected, expected = every change × every subscriber of its order's user; *missing* and *extra*:
  how many fewer or more a subscriber got. *latency*: the receive time of a subscriber's n-th delivery
  less the commit time (\`updatedAt\`, set by the orders service under the row's lock just before its
  commit, same clock) of the n-th change of its order: commit to client. *reads/change*:
  \`orders.get\` + \`users.get\` RPCs of both gateways over the changes / changes, the \`updateOrder\`
  calls' own look-ups included. *KiB/conn.*: the gateways' VmRSS with the subscribers connected less
  before, over the subscribers. *busy*: the machine's CPU over the changes.

| scenario | rate /s | changes | deliveries | missing | extra | latency p50 | p99 | max | reads/change | KiB/conn. | busy |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(jq -rs '
  def ms: if . < 10 then "\(.) ms" elif . < 10000 then "\(. | round) ms" else "\((. / 100 | round) / 10) s" end;
  def who: if .kind == "hot" then "1 user × \(.subscribers)" else "\(.users) users × \(.subscribers / .users | round)" end;
  .[] | "| \(.kind) (\(who)) | \(.achieved_rate) (\(.target_rate)) | \(.changes) | \(.received_deliveries) / \(.expected_deliveries) | \(.missing) | \(.duplicates) | \(.latency_p50_ms | ms) | \(.latency_p99_ms | ms) | \(.latency_max_ms | ms) | \(.reads_per_change) | \(.kib_per_connection) | \(.machine_busy_percent) % |"' "$RESULTS")

Besides, per scenario:

$(jq -rs '
  .[] | . as $r
  | "- **\(.kind) at \(.target_rate)/s**: RPCs per change " + (.rpcs | to_entries | sort_by(.key) | map("`\(.key)` \(((.value / $r.changes) * 1000 | round) / 1000)") | join(", "))
    + " (reads by gateway \(.reads_per_change_by_gateway | map(tostring) | join(" and ")));"
    + " `gateway_subscription_deliveries_total` \(.deliveries_metric | floor);"
    + " \(.later_state) deliveries carried a state of the order later than their change;"
    + " latency from the `updatedAt` a delivery carries p50 \(.state_latency_p50_ms) ms, p99 \(.state_latency_p99_ms) ms;"
    + " `updateOrder` p50 \(.write_p50_ms) ms, p99 \(.write_p99_ms) ms, sent late by at most \(.max_send_lateness_ms) ms;"
    + " CPU per change: gateways \(.gateway_cpu_ms_per_change | map("\(.) ms") | join(" and ")), load generator \(.bench_cpu_ms_per_change) ms;"
    + " memory (KiB, before → connected → after the first change → end) " + (.memory | map("\(.rss_before_kib) → \(.rss_subscribed_kib) → \(.rss_after_first_change_kib) → \(.rss_end_kib)") | join(" and "))
    + " (\(.kib_per_connection_after_first_change) KiB/conn. after the first change);"
    + " errors: \(.write_errors) writes, \(.subscriber_failures) subscribers\(if .first_subscriber_failure then " (first: \(.first_subscriber_failure))" else "" end), \(.older_than_change) deliveries older than their change, \(.out_of_order) out of order, \(.unknown_state) of an unknown state, \(.bad_payloads) bad payloads;"
    + " gateway warnings: " + (if (.gateway_warnings | length) == 0 then "none" else (.gateway_warnings | to_entries | map("\(.value) × \(.key)") | join(", ")) end) + "."' "$RESULTS")

$(jq -rs '
  def sustained: .achieved_rate >= 0.97 * .target_rate and .missing == 0 and .duplicates == 0 and .subscriber_failures == 0 and .latency_p99_ms < 1000;
  "**Sustained** (every change committed at the target rate, every delivery made, p99 under a second): "
  + (map(select(sustained) | "\(.kind) at \(.target_rate)/s") | if length == 0 then "none" else join(", ") end)
  + ". **Not sustained**: "
  + (map(select(sustained | not) | "\(.kind) at \(.target_rate)/s (p99 \(.latency_p99_ms) ms, \(.missing) missing, machine \(.machine_busy_percent) % busy)") | if length == 0 then "none" else join(", ") end)
  + "."' "$RESULTS")
EOF
}

# write_report FILE SECTION_FILE: replaces what lies between the markers (adding the section
# with its markers at the end the first time), keeping the rest of the file.
write_report() {
  local file=$1 section=$2
  [[ -f $file ]] || printf '# Benchmarks\n' >"$file"
  if ! grep -qxF "$BEGIN_MARK" "$file" || ! grep -qxF "$END_MARK" "$file"; then
    printf '\n%s\n\n%s\n%s\n' "$SECTION_TITLE" "$BEGIN_MARK" "$END_MARK" >>"$file"
  fi
  awk -v begin="$BEGIN_MARK" -v end="$END_MARK" -v section="$section" '
    $0 == begin { print; while ((getline line < section) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping { print }' "$file" >"$file.tmp"
  mv "$file.tmp" "$file"
}

# ---------------------------------------------------------------------------------------------

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_services
if ! command -v jq >/dev/null; then
  say "installing from Debian's packages: jq"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || say "warning: apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >&2
fi
# 1,000 WebSockets in the load generator, 500 in each gateway, plus HTTP and the broker: more
# open files than a default soft limit of 1,024. The gateways raise their own to the hard limit.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard >= 65536)); then ulimit -n 65536; else ulimit -n "$hard"; fi
(($(ulimit -n) >= SUBSCRIBERS + 1024)) || die "the open-file limit is $(ulimit -n); $((SUBSCRIBERS + 1024)) are needed"

if [[ -n ${LIVE_BENCH_BINARIES:-} ]]; then
  say "measuring the binaries in $BIN_DIR (LIVE_BENCH_BINARIES), not building"
else
  say "building the release binaries and the examples"
  cargo build --release --bins --examples -p gateway -p users-worker -p orders-worker
fi

WORK=$(mktemp -d)
RESULTS=$WORK/results.jsonl
VHOST=gqlmq-live-$RUN_ID
rmqctl add_vhost "$VHOST"
rmqctl set_permissions -p "$VHOST" guest ".*" ".*" ".*"
USERS_DB=gqlmq_live_${RUN_ID}_users ORDERS_DB=gqlmq_live_${RUN_ID}_orders
for db in "$USERS_DB" "$ORDERS_DB"; do
  psql_admin -c "CREATE DATABASE $db"
  DATABASES+=("$db")
done
REDIS_DB=$(claim_redis_db "live-bench-$RUN_ID") || die "every Redis db 1..$REDIS_RUN_DBS is held by another run"
redis -n "$REDIS_DB" FLUSHDB >/dev/null
say "run $RUN_ID: vhost $VHOST, databases $USERS_DB and $ORDERS_DB, Redis db $REDIS_DB"

AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/$VHOST
AUTH_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/$REDIS_DB
PREFIX=gqlmq-live-$RUN_ID

start users-worker users-worker AMQP_URL="$AMQP_URL" USERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$USERS_DB"
start orders-worker orders-worker AMQP_URL="$AMQP_URL" ORDERS_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$ORDERS_DB"

for scenario in "${SCENARIOS[@]}"; do
  run_scenario "${scenario%%:*}" "${scenario#*:}"
done

format_report >"$WORK/report.md"
echo
cat "$WORK/report.md"
if [[ -n ${LIVE_BENCH_RAW:-} ]]; then
  cp "$RESULTS" "$LIVE_BENCH_RAW"
  say "kept the measurements in $LIVE_BENCH_RAW"
fi
if [[ -n $OUTPUT ]]; then
  write_report "$OUTPUT" "$WORK/report.md"
  say "wrote the results to $OUTPUT"
fi
