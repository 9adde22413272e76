# shellcheck shell=bash
# What the benchmark scripts share (scripts/bench.sh, scripts/bench-compare.sh): starting and
# stopping the processes measured, seeding through GraphQL, and the CPU each process spent.
# Sourced after scripts/lib/services.sh. Uses the caller's WORK (logs go there), PIDS and NAMES
# (the processes started), SEED_USERS, BIN_DIR, WRK_THREADS and ONLY (BENCH_ONLY's keys).

PIDS=() NAMES=()

stop_processes() {
  local i pid deadline
  ((${#PIDS[@]})) || return 0
  say "stopping ${NAMES[*]}"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + 15))
  for i in "${!PIDS[@]}"; do
    while kill -0 "${PIDS[$i]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "${PIDS[$i]}" 2>/dev/null; then
      say "warning: ${NAMES[$i]} did not stop in time; killing it"
      kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    fi
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  PIDS=() NAMES=()
}

# launch NAME [VAR=VALUE...] -- COMMAND [ARG...]: runs COMMAND in the background with only these
# variables (and PATH, HOME), its output in $WORK/NAME.log.
launch() {
  local name=$1 vars=()
  shift
  while [[ $1 != -- ]]; do
    vars+=("$1")
    shift
  done
  shift
  env -i PATH="$PATH" HOME="$HOME" "${vars[@]}" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!) NAMES+=("$name")
}

# start NAME BINARY [VAR=VALUE...]: runs a binary in the background with only these variables
# (and PATH, HOME), its output in $WORK/NAME.log.
start() {
  local name=$1 binary=$2
  shift 2
  launch "$name" "$@" -- "$BIN_DIR/$binary"
}

# wait_ready NAME URL: waits for URL/readyz, failing early if the process ends.
wait_ready() {
  local name=$1 url=$2 i pid="${PIDS[-1]}" index
  for index in "${!NAMES[@]}"; do [[ ${NAMES[$index]} == "$name" ]] && pid=${PIDS[$index]}; done
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

# gql URL JSON: POSTs a GraphQL request, prints the response body.
# The admin token of each gateway's deployment, by URL (see make_admin); sent by gql and wrk.
declare -A TOKENS=()
gql() {
  local auth=()
  [[ -n ${TOKENS[$1]:-} ]] && auth=(-H "Authorization: Bearer ${TOKENS[$1]}")
  curl -sS --max-time 60 -H 'Content-Type: application/json' "${auth[@]}" --data-binary "$2" "$1/graphql"
}

# make_admin URL GRANT_COMMAND...: signs up `benchadmin` at URL, makes it an admin with the
# operator's command, signs it in; prints its token.
make_admin() {
  local url=$1 body response token
  shift
  body=$(jq -nc --arg cpf "$(cpf 987654321)" '{
    query: "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
    variables: { input: { nickName: "benchadmin", fullName: "Bench Admin", password: "bench-admin-password",
                          cpf: $cpf, email: "benchadmin@bench.example.com", phoneNumber: "+5511987654321" } } }')
  response=$(gql "$url" "$body")
  [[ -n $(jq -r '.data.createUser.id // empty' <<<"$response") ]] || die "creating the bench admin at $url failed: $response"
  env -i PATH="$PATH" HOME="$HOME" "$@" grant-admin benchadmin >&2 || die "cannot make benchadmin an admin"
  body='{"query":"mutation { login(login: \"benchadmin\", password: \"bench-admin-password\") { token } }"}'
  response=$(gql "$url" "$body")
  token=$(jq -r '.data.login.token // empty' <<<"$response")
  [[ -n $token ]] || die "signing the bench admin in at $url failed: $response"
  echo "$token"
}

# cpf NINE_DIGITS: the CPF with its two check digits.
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

# seed_user URL N: creates user N, prints its id.
seed_user() {
  local url=$1 n=$2 nick body response id
  nick=$(printf 'seed%03d' "$n")
  body=$(jq -nc --arg nick "$nick" --arg cpf "$(cpf "$(printf '9%08d' "$n")")" --arg phone "$(printf '+551198%07d' "$n")" '{
    query: "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
    variables: { input: { nickName: $nick, fullName: ("Seed User " + $nick), password: "seed-password",
                          cpf: $cpf, email: ($nick + "@bench.example.com"), phoneNumber: $phone } } }')
  response=$(gql "$url" "$body")
  id=$(jq -r '.data.createUser.id // empty' <<<"$response")
  [[ -n $id ]] || die "seeding user $n at $url failed: $response"
  echo "$id"
}

# seed_order URL USER_ID N: creates an order for USER_ID.
seed_order() {
  local body response
  body=$(jq -nc --arg user "$2" --arg n "$3" '{
    query: "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
    variables: { input: { userId: $user, itemDescription: ("seed item " + $n), itemQuantity: 2, itemPrice: "10.50" } } }')
  response=$(gql "$1" "$body")
  [[ -n $(jq -r '.data.createOrder.id // empty' <<<"$response") ]] || die "seeding order $3 failed: $response"
}

# in_parallel JOBS FUNCTION ARGS_PER_LINE...: runs FUNCTION once per line of stdin (its words
# appended to the arguments), JOBS at a time; fails when any call failed.
in_parallel() {
  local jobs=$1 fn=$2 line pids=() failed=0 pid
  shift 2
  while read -r line; do
    # shellcheck disable=SC2086 # the line's words are the arguments
    "$fn" "$@" $line &
    pids+=($!)
    if ((${#pids[@]} >= jobs)); then
      for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
      pids=()
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}

# seed_users URL FILE: SEED_USERS users, their ids in FILE.
seed_users() {
  seq 1 "$SEED_USERS" | in_parallel 4 seed_user "$1" >"$2"
  (($(wc -l <"$2") == SEED_USERS)) || die "seeding users at $1 did not give $SEED_USERS ids"
}

# CPU per request, per process (issue 18): what each part of the stack spent on a measurement.
# The processes of each part: the gateway and the two services by the names `launch` gave them, and the
# machine's PostgreSQL (every backend: the workers' pooled connections live through a
# measurement), RabbitMQ (beam.smp) and Redis.
readonly CLOCK_TICKS=$(getconf CLK_TCK)
readonly CPU_PARTS=(gateway users orders postgres rabbitmq redis)

# part_pids PART GATEWAY_NAME [USERS_NAME] [ORDERS_NAME]: the process ids of one part (the
# services' names default to users-worker and orders-worker).
part_pids() {
  local i wanted
  case $1 in
    gateway | users | orders)
      case $1 in
        gateway) wanted=$2 ;;
        users) wanted=${3:-users-worker} ;;
        orders) wanted=${4:-orders-worker} ;;
      esac
      for i in "${!NAMES[@]}"; do [[ ${NAMES[$i]} == "$wanted" ]] && echo "${PIDS[$i]}"; done
      ;;
    postgres) pgrep -u postgres -x postgres || true ;;
    rabbitmq) pgrep -f beam.smp || true ;;
    redis) pgrep -x redis-server || true ;;
  esac
}

# cpu_ticks PID...: `pid:ticks` for each of these processes still there, comma-separated: the
# user + system CPU each used, in clock ticks. The fields after the command name, which may hold
# spaces: utime, stime.
cpu_ticks() {
  local pid ticks list=()
  for pid in "$@"; do
    ticks=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || continue
    list+=("$pid:${ticks:-0}")
  done
  local IFS=,
  echo "${list[*]:--}"
}

# cpu_snapshot GATEWAY_NAME [USERS_NAME] [ORDERS_NAME]: one line, the cpu_ticks of each part in
# CPU_PARTS order.
cpu_snapshot() {
  local part line=()
  for part in "${CPU_PARTS[@]}"; do
    # shellcheck disable=SC2046 # one pid per word
    line+=("$(cpu_ticks $(part_pids "$part" "$@"))")
  done
  echo "${line[*]}"
}

# cpu_per_request BEFORE AFTER REQUESTS: {"gateway": µs, ...}, CPU per request of each part:
# for each process of the part at the end, what it used since the start (all of it when it
# started since). A process that ended in between (a PostgreSQL backend whose connection
# closed) is left out: it can only make a part look cheaper, never negative.
cpu_per_request() {
  local -a before after
  read -r -a before <<<"$1"
  read -r -a after <<<"$2"
  local i json="{"
  for i in "${!CPU_PARTS[@]}"; do
    json+="\"${CPU_PARTS[$i]}\": $(awk -v b="${before[i]}" -v a="${after[i]}" -v hz="$CLOCK_TICKS" -v n="$3" '
      BEGIN {
        split(b, was, ","); for (k in was) { split(was[k], p, ":"); start[p[1]] = p[2] }
        split(a, now, ","); t = 0
        for (k in now) { split(now[k], p, ":"); if (p[1] != "-") t += p[2] - ((p[1] in start) ? start[p[1]] : 0) }
        printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)
      }')"
    ((i < ${#CPU_PARTS[@]} - 1)) && json+=", "
  done
  echo "$json}"
}

# wanted KEY: whether BENCH_ONLY (when set) names this scenario.
wanted() {
  ((${#ONLY[@]} == 0)) && return 0
  local key
  for key in "${ONLY[@]}"; do [[ $key == "$1" ]] && return 0; done
  return 1
}

# wrk_measure SCENARIO URL CONNECTIONS SECONDS IDS_FILE TAG TOKEN GATEWAY_NAME [USERS_NAME]
# [ORDERS_NAME]: runs scripts/bench/graphql.lua's SCENARIO against URL with wrk (WRK_THREADS
# threads at most, one per connection) and prints its BENCH_JSON, with the CPU each part of the
# stack (named as for cpu_snapshot) spent per request (`cpu_us`).
wrk_measure() {
  local scenario=$1 url=$2 connections=$3 seconds=$4 ids=$5 tag=$6 token=$7 threads output before after result
  shift 7
  threads=$((connections < WRK_THREADS ? connections : WRK_THREADS))
  before=$(cpu_snapshot "$@")
  output=$(BENCH_SCENARIO=$scenario BENCH_IDS_FILE=$ids BENCH_TAG=$tag BENCH_TOKEN=$token BENCH_THREADS=$threads \
    wrk -t "$threads" -c "$connections" -d "${seconds}s" --timeout 10s -s scripts/bench/graphql.lua "$url/graphql")
  after=$(cpu_snapshot "$@")
  result=$(grep '^BENCH_JSON ' <<<"$output" | sed 's/^BENCH_JSON //') || die "wrk printed no result: $output"
  jq -c --argjson cpu "$(cpu_per_request "$before" "$after" "$(jq .requests <<<"$result")")" '. + {cpu_us: $cpu}' \
    <<<"$result"
}

# write_between FILE BEGIN_MARK END_MARK SECTION_FILE: replaces what lies between the two marker
# lines of FILE with SECTION_FILE, keeping the rest.
write_between() {
  local file=$1 begin=$2 end=$3 section=$4
  awk -v begin="$begin" -v end="$end" -v section="$section" '
    $0 == begin { print; while ((getline line < section) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping { print }' "$file" >"$file.tmp"
  mv "$file.tmp" "$file"
}
