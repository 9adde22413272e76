# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/run-local.sh: makes sure PostgreSQL, Redis and RabbitMQ
# answer on their standard local ports, and gives the scripts one way to talk to each.
#
# `ensure_services` uses a service whose port answers; else starts it when it is installed; else
# installs the missing ones from Debian's packages (and, for PostgreSQL, trusts user postgres on
# loopback) and starts them. It says which of these it did for each service.

readonly PG_PORT=5432 REDIS_PORT=6379 AMQP_PORT=5672
# The service commands live in /usr/sbin, which a non-root user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

say() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# Root for apt and the services' own commands; sudo when run as another user.
as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

# The clients, with the timeouts that keep a stuck server from hanging the script.
psql_admin() { timeout 60 psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -d postgres -v ON_ERROR_STOP=1 -Atq "$@"; }
redis() { timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
rmqctl() { as_root timeout 60 rabbitmqctl -q "$@"; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_for SECONDS COMMAND...: runs COMMAND once a second until it succeeds; fails after SECONDS.
wait_for() {
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
redis_ready() { [[ $(redis ping 2>/dev/null) == PONG ]]; }
rabbitmq_ready() { as_root timeout 20 rabbitmqctl -q await_startup; }

# The newest PostgreSQL cluster configured here (Debian keeps one folder per version).
pg_version() { find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -printf '%h\n' 2>/dev/null | xargs -r -n1 basename | sort -V | tail -n 1; }

pg_installed() { command -v pg_ctlcluster >/dev/null && [[ -n $(pg_version) ]]; }
redis_installed() { command -v redis-server >/dev/null; }
rabbitmq_installed() { command -v rabbitmq-server >/dev/null; }

pg_start() { as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start; }
redis_start() {
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}
rabbitmq_start() { as_root rabbitmq-server -detached; }

# Trusts user postgres on loopback: the lines go first in pg_hba.conf, since the first match wins.
pg_trust_loopback() {
  local hba
  hba=/etc/postgresql/$(pg_version)/main/pg_hba.conf
  as_root grep -q 'added by gqlmq scripts' "$hba" && return 0
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust # added by gqlmq scripts\nhost all postgres ::1/128 trust # added by gqlmq scripts' "$hba"
  say "PostgreSQL: $hba now trusts user postgres on 127.0.0.1 and ::1"
}

# installed_now PREFIX: whether ensure_services installed this service's package in this run.
installed_now() { [[ " ${INSTALLED_NOW[*]} " == *" $1 "* ]]; }

# ensure_service NAME PORT PREFIX: PREFIX_installed, PREFIX_start and PREFIX_ready do the work.
ensure_service() {
  local name=$1 port=$2 fn=$3 how=""
  if installed_now "$fn"; then how="installed, "; fi
  if port_open "$port"; then
    how+="found running"
  elif "${fn}_installed"; then
    how+="started"
    "${fn}_start" >/dev/null || die "$name did not start"
  else
    die "$name is not installed"
  fi
  wait_for 120 "${fn}_ready" || die "$name is not ready after 120s"
  say "$name: $how on 127.0.0.1:$port"
}

ensure_services() {
  local packages=()
  INSTALLED_NOW=()
  if ! port_open "$PG_PORT" && ! pg_installed; then packages+=(postgresql) INSTALLED_NOW+=(pg); fi
  if ! port_open "$REDIS_PORT" && ! redis_installed; then packages+=(redis-server) INSTALLED_NOW+=(redis); fi
  if ! port_open "$AMQP_PORT" && ! rabbitmq_installed; then packages+=(rabbitmq-server) INSTALLED_NOW+=(rabbitmq); fi
  # The scripts need the clients even when the servers run already.
  command -v psql >/dev/null && command -v pg_isready >/dev/null || packages+=(postgresql-client)
  command -v redis-cli >/dev/null || packages+=(redis-tools)
  if ((${#packages[@]})); then
    say "installing from Debian's packages: ${packages[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
      say "warning: apt-get update failed; trying the package lists already here"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >&2
  fi
  if installed_now pg; then pg_trust_loopback; fi

  ensure_service PostgreSQL "$PG_PORT" pg
  ensure_service Redis "$REDIS_PORT" redis
  command -v rabbitmqctl >/dev/null ||
    die "RabbitMQ answers on 127.0.0.1:$AMQP_PORT but rabbitmqctl is not here to manage its vhosts"
  ensure_service RabbitMQ "$AMQP_PORT" rabbitmq
  # A package that started its server itself did so before pg_hba.conf was edited.
  if installed_now pg; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
  fi
  psql_admin -c 'SELECT 1' >/dev/null ||
    die "PostgreSQL does not let user postgres in without a password on 127.0.0.1:$PG_PORT (see pg_hba.conf)"
}

# Redis dbs 1..15 are handed out to runs (tests, benchmarks) so that concurrent runs never share
# one: a claim key in db 0 (SET NX, expiring after 3 hours in case a run dies without cleaning
# up) marks a db taken; db 0 itself is left to scripts/run-local.sh. Both scripts use these
# two functions, so the protocol stays one.
readonly REDIS_RUN_DBS=15 REDIS_CLAIM_SECONDS=10800

# claim_redis_db OWNER: prints the db claimed for OWNER; fails when every db is taken.
claim_redis_db() {
  local first=$((RANDOM % REDIS_RUN_DBS)) i db
  for ((i = 0; i < REDIS_RUN_DBS; i++)); do
    db=$(((first + i) % REDIS_RUN_DBS + 1))
    if [[ $(redis -n 0 SET "gqlmq-test:redis-db:$db" "$1" NX EX "$REDIS_CLAIM_SECONDS") == OK ]]; then
      echo "$db"
      return 0
    fi
  done
  return 1
}

# release_redis_db DB: empties DB and drops its claim.
release_redis_db() {
  redis -n "$1" FLUSHDB >/dev/null && redis -n 0 DEL "gqlmq-test:redis-db:$1" >/dev/null && say "flushed Redis db $1"
}

# free_port VAR: sets VAR to a port nothing listens on and that this run has not handed out yet,
# below the range the kernel hands out to outgoing connections (so none of those takes it).
TAKEN_PORTS=" "
free_port() {
  local candidate try low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for ((try = 0; try < 100; try++)); do
    candidate=$((20000 + RANDOM % (low - 20000)))
    [[ $TAKEN_PORTS == *" $candidate "* ]] && continue
    port_open "$candidate" && continue
    TAKEN_PORTS+="$candidate "
    printf -v "$1" '%s' "$candidate"
    return
  done
  die "no free port found"
}
