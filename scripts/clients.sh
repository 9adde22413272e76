#!/usr/bin/env bash
# The outside-client suites: `scripts/clients.sh [suite...]` (suites: audit apollo cors graphiql
# subscriptions urql; all by default). What each checks: clients/README.md.
#
# 1. Builds the gateway (`cargo build -p gateway`), starts it embedded (no AMQP_URL, no
#    REDIS_URL, SQLite files in a fresh temporary DATA_DIR) on a free loopback port, with
#    CORS_ALLOWED_ORIGINS set to the test origin, and polls /healthz until it answers.
# 2. Runs `npm ci` in clients/ when node_modules is missing or was installed from another
#    lockfile; installs Debian's chromium when /usr/bin/chromium is missing (no browser download).
# 3. Runs each suite with Node's test runner and prints, per suite, a
#    `test result: ok. N passed; M failed; 0 ignored` line (scripts/test.sh sums those). The
#    suites get the gateway's binary and DATA_DIR (GATEWAY_BIN, GATEWAY_DATA_DIR) so that they
#    can make an admin as an operator does, `gateway grant-admin <nickName>`, on the running
#    gateway's users database.
# 4. Stops the gateway and removes what it made, also after a failure or Ctrl-C; exits non-zero
#    when any test failed.
#
# Every wait has a bound: CLIENTS_STARTUP_TIMEOUT (seconds for /healthz, default 120),
# CLIENTS_SUITE_TIMEOUT (seconds per suite, default 300).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}

ALL_SUITES=(audit apollo cors graphiql subscriptions urql)
SUITES=("$@")
[[ ${#SUITES[@]} -eq 0 ]] && SUITES=("${ALL_SUITES[@]}")
STARTUP_TIMEOUT=${CLIENTS_STARTUP_TIMEOUT:-120}
SUITE_TIMEOUT=${CLIENTS_SUITE_TIMEOUT:-300}
# The browser app's origin the gateway allows, and one it does not.
CORS_TEST_ORIGIN=http://localhost:5173
CORS_OTHER_ORIGIN=http://localhost:5174
CHROMIUM=/usr/bin/chromium

say() { printf 'clients: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# What cleanup() must undo; each is set once the thing exists.
WORK="" GATEWAY_PID=""

cleanup() {
  local status=$? pid
  trap - EXIT
  set +e
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -TERM "$GATEWAY_PID"
    # SIGTERM drains and exits; give it 15 s, then SIGKILL.
    for _ in $(seq 150); do
      kill -0 "$GATEWAY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$GATEWAY_PID" 2>/dev/null && { say "the gateway did not stop on SIGTERM; killing it"; kill -KILL "$GATEWAY_PID"; }
    wait "$GATEWAY_PID" 2>/dev/null
    say "stopped the gateway (pid $GATEWAY_PID)"
  fi
  GATEWAY_PID=""
  if [[ -n $WORK ]]; then
    # A suite killed by its timeout may have left its Chromium behind: only ours, by profile dir.
    for pid in $(pgrep -f -- "--user-data-dir=$WORK/" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
  fi
  WORK=""
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for suite in "${SUITES[@]}"; do
  [[ -f clients/test/$suite.test.js ]] || die "no suite '$suite' (suites: ${ALL_SUITES[*]})"
done

# --- tools -----------------------------------------------------------------------------------

command -v node >/dev/null || die "Node.js 20 or later is needed (node not found)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js 20 or later is needed (found $(node --version))"

if [[ ! -x $CHROMIUM ]] && [[ " ${SUITES[*]} " =~ \ (cors|graphiql)\  ]]; then
  say "installing Debian's chromium"
  sudo=()
  ((EUID == 0)) || sudo=(sudo -n)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium
  [[ -x $CHROMIUM ]] || die "chromium did not install at $CHROMIUM"
fi

# npm ci when node_modules is missing or was installed from another package.json/lockfile.
lock_stamp=$(cat clients/package.json clients/package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -d clients/node_modules ]] || [[ $(cat clients/node_modules/.clients-lock-sha256 2>/dev/null) != "$lock_stamp" ]]; then
  say "npm ci in clients/"
  (cd clients && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_stamp" >clients/node_modules/.clients-lock-sha256
fi

say "building the gateway (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build -p gateway
GATEWAY_BIN=$CARGO_TARGET_DIR/debug/gateway
[[ -x $GATEWAY_BIN ]] || die "no gateway binary at $GATEWAY_BIN"

# --- the gateway -----------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gql-mq-clients.XXXXXX")
mkdir -p "$WORK/data" "$WORK/tmp"
PORT=$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
GATEWAY_URL=http://127.0.0.1:$PORT

say "starting the gateway embedded on $GATEWAY_URL (DATA_DIR $WORK/data, CORS_ALLOWED_ORIGINS=$CORS_TEST_ORIGIN)"
# Embedded: none of the services' addresses. AUTH_SECRET is made once under DATA_DIR.
env -u AMQP_URL -u REDIS_URL -u USERS_DATABASE_URL -u ORDERS_DATABASE_URL -u AUTH_SECRET \
  LISTEN_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK/data" CORS_ALLOWED_ORIGINS="$CORS_TEST_ORIGIN" \
  RUST_LOG="${RUST_LOG:-warn}" \
  "$GATEWAY_BIN" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!

# Polls /healthz until it answers 200, the gateway exits, or STARTUP_TIMEOUT passes.
if ! node - "$GATEWAY_URL/healthz" "$GATEWAY_PID" "$STARTUP_TIMEOUT" <<'EOF'; then
const [url, pid, seconds] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
for (;;) {
  if (!alive()) { console.error(`the gateway exited before ${url} answered`); process.exit(1); }
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    if (response.status === 200) process.exit(0);
  } catch {}
  if (Date.now() > deadline) { console.error(`${url} did not answer within ${seconds} s`); process.exit(1); }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
EOF
  say "the gateway's output:"
  tail -n 50 "$WORK/gateway.log" >&2
  exit 1
fi
say "the gateway answers /healthz"

# --- the suites ------------------------------------------------------------------------------

total_passed=0 total_failed=0
for suite in "${SUITES[@]}"; do
  say "suite $suite"
  tap=$WORK/$suite.tap
  set +e
  (cd clients && GATEWAY_URL=$GATEWAY_URL CORS_TEST_ORIGIN=$CORS_TEST_ORIGIN CORS_OTHER_ORIGIN=$CORS_OTHER_ORIGIN \
    GATEWAY_BIN=$GATEWAY_BIN GATEWAY_DATA_DIR=$WORK/data \
    CHROMIUM_PATH=$CHROMIUM TMPDIR=$WORK/tmp \
    timeout --kill-after=10 "$SUITE_TIMEOUT" \
    node --test --test-timeout=120000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    "test/$suite.test.js")
  rc=$?
  set -e
  summary() { sed -n "s/^# $1 \([0-9][0-9]*\)$/\1/p" "$tap" 2>/dev/null | tail -n 1; }
  passed=$(summary pass) failed=$(summary fail) cancelled=$(summary cancelled) skipped=$(summary skipped)
  if [[ -z $passed || -z $failed ]]; then
    # No summary: the run died or timed out. Count what finished, and the run as one failure.
    passed=$(grep -cE '^ok [0-9]+ ' "$tap" 2>/dev/null || true)
    failed=$(($(grep -cE '^not ok [0-9]+ ' "$tap" 2>/dev/null || true) + 1))
    cancelled=0 skipped=0
    say "suite $suite ended without a summary (exit $rc)"
  fi
  failed=$((failed + ${cancelled:-0}))
  ((rc == 0 || failed > 0)) || failed=1
  verdict=ok
  ((failed == 0)) || verdict=FAILED
  echo "clients/$suite test result: $verdict. $passed passed; $failed failed; ${skipped:-0} ignored"
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
done

if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
  say "the gateway died during the suites; its output:"
  tail -n 50 "$WORK/gateway.log" >&2
  total_failed=$((total_failed + 1))
fi
echo "clients: $total_passed passed, $total_failed failed"
((total_failed == 0))
