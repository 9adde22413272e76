#!/usr/bin/env bash
# What a 1 MB query text costs the gateway (issue 14): `scripts/probe-big-query.sh [gateway binary]`.
#
# Starts the gateway embedded (no AMQP_URL, no REDIS_URL; SQLite under a fresh temporary
# DATA_DIR) on a free loopback port, twice: with MAX_QUERY_BYTES left at its default, and with
# MAX_QUERY_BYTES=2000000 (no bound in effect, as before the bound existed). For each it prints:
#
# 1. the gateway's CPU time (utime + stime from /proc/<pid>/stat) per 1 MB query, over
#    PROBE_REQUESTS (default 20) sent one after the other;
# 2. the median and 95th percentile latency of a bystander sending `{ __typename }` one at a
#    time for PROBE_SECONDS (default 10), alone, then while four clients send 1 MB queries in a
#    loop.
#
# The binary defaults to $CARGO_TARGET_DIR/release/gateway (build it with
# `cargo build --release -p gateway`). Everything it started or made is removed when it ends.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
GATEWAY_BIN=${1:-$CARGO_TARGET_DIR/release/gateway}
REQUESTS=${PROBE_REQUESTS:-20}
SECONDS_EACH=${PROBE_SECONDS:-10}
[[ -x $GATEWAY_BIN ]] || { echo "probe: no gateway binary at $GATEWAY_BIN" >&2; exit 1; }

WORK="" GATEWAY_PID=""
stop_gateway() {
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -TERM "$GATEWAY_PID"
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  GATEWAY_PID=""
}
cleanup() {
  local status=$?
  trap - EXIT
  stop_gateway
  [[ -n $WORK ]] && rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gql-mq-probe.XXXXXX")

# Starts the gateway with extra environment ($@), waits for /healthz; sets GATEWAY_PID, URL.
start_gateway() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  env -u AMQP_URL -u REDIS_URL -u USERS_DATABASE_URL -u ORDERS_DATABASE_URL \
    LISTEN_ADDR="127.0.0.1:$port" DATA_DIR="$WORK/data" RUST_LOG=warn "$@" \
    "$GATEWAY_BIN" >"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  URL=http://127.0.0.1:$port
  for _ in $(seq 600); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$WORK/gateway.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "probe: the gateway never answered /healthz" >&2
  exit 1
}

probe() {
  python3 - "$URL" "$GATEWAY_PID" "$REQUESTS" "$SECONDS_EACH" <<'EOF'
import http.client, json, os, statistics, sys, threading, time

url, pid, requests, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
host, port = url.removeprefix("http://").split(":")
# 1 MB of a valid query: `{ __typename __typename ... }`, as an abuser would send.
field = "__typename "
big = "{ " + field * ((1_000_000 - 4) // len(field)) + "}"
big = big + " " * (1_000_000 - len(big))
big_body = json.dumps({"query": big}).encode()
small_body = json.dumps({"query": "{ __typename }"}).encode()
headers = {"content-type": "application/json", "accept": "application/graphql-response+json"}
tick = os.sysconf("SC_CLK_TCK")

def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

def post(connection, body):
    connection.request("POST", "/graphql", body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    return response.status, payload

connection = http.client.HTTPConnection(host, int(port), timeout=60)
status, payload = post(connection, big_body)
code = (json.loads(payload).get("errors") or [{}])[0].get("extensions", {}).get("code")
before = cpu_seconds()
started = time.monotonic()
for _ in range(requests):
    post(connection, big_body)
wall = time.monotonic() - started
cpu = cpu_seconds() - before
print(f"  a 1 MB query answers {status} {code}: {cpu / requests * 1000:.1f} ms of gateway CPU each "
      f"({requests} requests, {wall / requests * 1000:.1f} ms wall each)")

def bystander(label):
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        post(connection, small_body)
        latencies.append((time.monotonic() - started) * 1000)
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    print(f"  bystander {{ __typename }} {label}: median {statistics.median(latencies):.2f} ms, "
          f"p95 {p95:.2f} ms ({len(latencies)} requests)")

bystander("alone")
stop = threading.Event()
def attacker():
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    while not stop.is_set():
        post(connection, big_body)
threads = [threading.Thread(target=attacker, daemon=True) for _ in range(4)]
for thread in threads:
    thread.start()
time.sleep(0.5)
bystander("while 4 clients send 1 MB queries")
stop.set()
for thread in threads:
    thread.join(timeout=30)
EOF
}

echo "probe: $GATEWAY_BIN, $(nproc) cores"
echo "MAX_QUERY_BYTES unbounded (2000000), as before the bound:"
start_gateway MAX_QUERY_BYTES=2000000
probe
stop_gateway
echo "MAX_QUERY_BYTES at its default (65536):"
start_gateway
probe
stop_gateway
