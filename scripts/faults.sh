#!/usr/bin/env bash
# The fault harness, on demand (never in CI, not part of scripts/test.sh):
#
#   scripts/faults.sh [scenario...]     # all when none is named; `--help` lists them
#
# Builds the three release binaries and the harness (gateway/examples/faults.rs), then runs it:
# it starts a RabbitMQ node, a PostgreSQL cluster and a Redis server of its own (the machine's
# services are never stopped, restarted or flushed), runs the release binaries against them,
# injects one fault per scenario under a write load, and prints one Markdown table: writes
# ok/failed/unknown, retries, lost, duplicated, stale, orphans, late overwrites and the time until
# normal. The table also goes to faults-results.md here when git ignores that name, otherwise to
# /tmp/faults-results.md. Exits non-zero when any lost/duplicated/stale/orphan/late-overwrite
# count is not 0, or a scenario could not run.
#
# Scenarios: kill-users-worker restart-broker restart-postgres pause-orders-worker kill-gateway
# cascade-without-gateways client-retry. It needs rabbitmq-server, pg_createcluster (Debian's
# postgresql-common), redis-server and root (the private node runs as the rabbitmq user).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/gql-mq-target}
# Names the private instances (gqlmq-node-faults-..., gqlmq-pg-faults-...).
export TEST_RUN_ID=${TEST_RUN_ID:-faults}

for tool in rabbitmq-server rabbitmqctl pg_createcluster pg_ctlcluster redis-server; do
  command -v "$tool" >/dev/null || { echo "faults.sh: $tool is not installed" >&2; exit 2; }
done

if git check-ignore -q faults-results.md 2>/dev/null; then
  output=faults-results.md
else
  output=/tmp/faults-results.md
fi

cargo build --release -p gateway -p users-worker -p orders-worker
cargo build --release -p gateway --example faults
started=$SECONDS
status=0
cargo run --release -p gateway --example faults -- --output "$output" "$@" || status=$?
echo "faults.sh: $((SECONDS - started)) s; the table is in $output" >&2
exit "$status"
