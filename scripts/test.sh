#!/usr/bin/env bash
# The project's test command: `scripts/test.sh [cargo test arguments...]`.
#
# 1. Makes sure PostgreSQL, Redis and RabbitMQ answer on 127.0.0.1 (found, started or installed:
#    scripts/lib/services.sh).
# 2. Isolates this run from any other on the machine: a random TEST_RUN_ID that the tests put in
#    their database names and cache key prefixes, a RabbitMQ vhost and a Redis db of its own.
# 3. Runs the workspace's tests (a test that restarts a broker starts a RabbitMQ node of its own,
#    never touching the machine's), then the client suites (scripts/clients.sh).
# 4. Cleans up, also after a failure or Ctrl-C, and ends with the line `N passed, M failed`.
#
# TEST_CMD, when set, replaces the cargo commands of step 3: a way to check steps 1, 2 and 4 alone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

# What cleanup() must undo; each is set once the thing exists.
TEST_RUN_ID="" VHOST_CREATED="" REDIS_DB="" LOG_DIR=""

cleanup() {
  local status=$? name
  trap - EXIT
  set +e
  if [[ -n $VHOST_CREATED ]]; then
    rmqctl delete_vhost "$VHOST_CREATED" && say "deleted RabbitMQ vhost $VHOST_CREATED"
    VHOST_CREATED=""
  fi
  if [[ -n $TEST_RUN_ID ]]; then
    # Tests delete the vhosts and drop the databases they make (named with -<id>- and _<id>_);
    # these are what a crashed test left.
    while read -r name; do
      rmqctl delete_vhost "$name" </dev/null && say "deleted leftover vhost $name"
    done < <(rmqctl list_vhosts name | grep -F -- "-$TEST_RUN_ID-")
    # Private RabbitMQ nodes (test_support::PrivateRabbitMq) are named gqlmq-node-<id>-...
    while read -r name; do
      rabbitmqctl -n "$name@localhost" stop </dev/null >/dev/null 2>&1 && say "stopped leftover RabbitMQ node $name"
    done < <(epmd -names 2>/dev/null | awk '$1 == "name" { print $2 }' | grep -F -- "gqlmq-node-$TEST_RUN_ID-")
    # Private PostgreSQL clusters (test_support::PrivatePostgres) are named gqlmq-pg-<id>-...
    while read -r version name; do
      pg_dropcluster --stop "$version" "$name" </dev/null && say "dropped leftover PostgreSQL cluster $name"
    done < <(pg_lsclusters -h 2>/dev/null | awk '{ print $1, $2 }' | grep -F -- "gqlmq-pg-$TEST_RUN_ID-")
    while read -r name; do
      psql_admin -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" </dev/null && say "dropped leftover database $name"
    done < <(psql_admin -c "SELECT datname FROM pg_database WHERE strpos(datname, '_${TEST_RUN_ID}_') > 0")
    TEST_RUN_ID=""
  fi
  if [[ -n $REDIS_DB ]]; then
    release_redis_db "$REDIS_DB"
    REDIS_DB=""
  fi
  [[ -n $LOG_DIR ]] && rm -rf "$LOG_DIR"
  LOG_DIR=""
  return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_step COMMAND...: runs one step with its output also kept for the closing count.
run_step() {
  say "running: $*"
  "$@" | tee -a "$LOG_DIR/output"
}

# Sums the `test result: ok. N passed; M failed; ...` lines of every step.
summary() {
  { grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$LOG_DIR/output" || true; } |
    awk '{ passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }'
}

ensure_services

TEST_RUN_ID=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
vhost=gqlmq-test-$TEST_RUN_ID
rmqctl add_vhost "$vhost"
VHOST_CREATED=$vhost
rmqctl set_permissions -p "$vhost" guest ".*" ".*" ".*"
# The db is the run's own; the cache's keys also carry TEST_RUN_ID as their prefix, so even runs
# that had to share a db never read each other's entries.
REDIS_DB=$(claim_redis_db "$TEST_RUN_ID") || {
  REDIS_DB=$((RANDOM % REDIS_RUN_DBS + 1))
  say "warning: every Redis db 1..$REDIS_RUN_DBS is held by another run; sharing db $REDIS_DB"
}
redis -n "$REDIS_DB" FLUSHDB >/dev/null

export TEST_RUN_ID
export TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/$vhost
# With a database in its path: tests swap it for their own databases' names.
export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
export TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/$REDIS_DB
say "run $TEST_RUN_ID: vhost $vhost, Redis db $REDIS_DB, databases *_${TEST_RUN_ID}_*, vhosts *-${TEST_RUN_ID}-*"

LOG_DIR=$(mktemp -d)
status=0
if [[ -n ${TEST_CMD:-} ]]; then
  run_step bash -c "$TEST_CMD" || status=1
else
  run_step cargo test --workspace --all-targets "$@" || status=1
  # The clients' suites (clients/: graphql-http audit, Apollo Client, CORS, GraphiQL in Chromium)
  # against an embedded gateway of their own; with arguments, only the selected cargo tests run.
  if (($#)); then
    say "skipping the client suites: arguments were given, so only the selected tests run"
  else
    run_step bash scripts/clients.sh || status=1
  fi
fi

counts=$(summary)
cleanup
echo "$counts"
exit "$status"
