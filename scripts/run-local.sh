#!/usr/bin/env bash
# Runs the whole system on this machine, as in production but against the local PostgreSQL, Redis
# and RabbitMQ (found, started or installed: scripts/lib/services.sh): users-worker, orders-worker
# and the gateway on http://$LISTEN_ADDR (127.0.0.1:8000 unless set). Ctrl-C stops all three.
#
# Uses the RabbitMQ vhost gqlmq-dev, the databases gqlmq_users and gqlmq_orders, and Redis db 0,
# creating what is missing; the data stays between runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

readonly VHOST=gqlmq-dev USERS_DB=gqlmq_users ORDERS_DB=gqlmq_orders BINARIES=(users-worker orders-worker gateway)

ensure_services
if ! rmqctl list_vhosts | grep -x "$VHOST" >/dev/null; then
  rmqctl add_vhost "$VHOST"
  say "created RabbitMQ vhost $VHOST"
fi
rmqctl set_permissions -p "$VHOST" guest ".*" ".*" ".*"
for db in "$USERS_DB" "$ORDERS_DB"; do
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
    psql_admin -c "CREATE DATABASE $db"
    say "created database $db"
  fi
done

export AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/$VHOST
# Tokens are signed with it; kept for the run only (sign in again after a restart).
export AUTH_SECRET=${AUTH_SECRET:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')}
export USERS_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$USERS_DB
export ORDERS_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$ORDERS_DB
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:8000}
export RUST_LOG=${RUST_LOG:-info}

# One build for the three, rather than three `cargo run`s queueing on the build lock.
cargo build --release "${BINARIES[@]/#/--package=}"

pids=()
# shellcheck disable=SC2317 # called by the traps below
stop_all() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    say "stopping ${BINARIES[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
# Background jobs of a script ignore Ctrl-C, so the script forwards it as SIGTERM, on which each
# binary shuts down gracefully.
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for bin in "${BINARIES[@]}"; do
  # Each line of output is prefixed with its binary's name; $! is the binary itself, not sed. The
  # sed ignores Ctrl-C so that it still passes on what the binary logs while shutting down.
  "$CARGO_TARGET_DIR/release/$bin" > >(trap '' INT TERM && exec sed -u "s/^/[$bin] /") 2>&1 &
  pids+=($!)
done
say "running: the gateway on http://$LISTEN_ADDR/graphql; Ctrl-C stops everything"

# When one of them ends by itself, stop the others rather than leave a half system running.
status=0
wait -n "${pids[@]}" || status=$?
say "a process ended (status $status)"
exit "$status"
