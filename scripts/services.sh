#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis are installed and running on 127.0.0.1 with the settings the
# tests and the development mode expect. Safe to run any number of times; used by .ci/run.
#
# - Installs Debian's `postgresql` and `redis-server` when either is missing (needs root).
# - PostgreSQL: local TCP connections of user `postgres` are trusted (no password), port 5432.
# - Redis: port 6379, `maxmemory-policy noeviction` (BullMQ loses jobs under eviction), no
#   persistence (a test server; production wants AOF, see docs/operations.md).
# - PgBouncer: installed only; the tests start their own on free ports (scripts/testkit), so the
#   system service Debian's package enables is stopped and disabled.
#
# On a laptop with Docker, `docker compose up -d postgres redis` gives the same two services.
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}

say() { printf 'services: %s\n' "$*"; }

wait_for() { # wait_for <what> <command...>: up to 30 s for a service to answer
  local what=$1
  shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  say "$what did not come up" >&2
  return 1
}

need_install=()
command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 ||
  need_install+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_install+=(redis-server)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || need_install+=(pgbouncer)
if ((${#need_install[@]})); then
  if [ "$(id -u)" != 0 ]; then
    say "missing ${need_install[*]}; run this script as root, or install them yourself" >&2
    exit 1
  fi
  say "installing ${need_install[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
  if [[ " ${need_install[*]} " == *" pgbouncer "* ]]; then
    # Debian's package starts a pgbouncer on 127.0.0.1:6432 where init scripts may run: nothing
    # here uses it, so it is stopped now and not started at boot.
    if [ -f /run/postgresql/pgbouncer.pid ]; then
      invoke-rc.d pgbouncer stop || say "could not stop the system pgbouncer" >&2
    fi
    update-rc.d pgbouncer disable >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then systemctl disable --now pgbouncer >/dev/null 2>&1 || true; fi
  fi
fi

# --- PostgreSQL --------------------------------------------------------------------------------
version=$(ls /etc/postgresql | sort -n | tail -n 1)
if [ -z "$version" ]; then
  say "PostgreSQL is installed but has no cluster; create one with pg_createcluster" >&2
  exit 1
fi
hba=/etc/postgresql/$version/main/pg_hba.conf
marker='# order-service: trust local TCP for postgres'
if ! grep -qF "$marker" "$hba"; then
  say "trusting local TCP connections of user postgres ($hba)"
  # pg_hba.conf is read top-down and the first match wins, so the trust lines go first.
  {
    echo "$marker"
    echo 'host    all    postgres    127.0.0.1/32    trust'
    echo 'host    all    postgres    ::1/128         trust'
    cat "$hba"
  } >"$hba.new"
  chown --reference="$hba" "$hba.new"
  chmod --reference="$hba" "$hba.new"
  mv "$hba.new" "$hba"
  pg_reload=1
fi
if pg_isready -h 127.0.0.1 -p "$PG_PORT" -q; then
  if [ "${pg_reload:-0}" = 1 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
else
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_for PostgreSQL pg_isready -h 127.0.0.1 -p "$PG_PORT" -q
wait_for "PostgreSQL (trust auth)" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -Atc 'select 1'

# --- Redis -------------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  say "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --maxmemory-policy noeviction
fi
wait_for Redis redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
# A Redis that was already running may have been started with another policy.
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config set maxmemory-policy noeviction >/dev/null

say "PgBouncer $(/usr/sbin/pgbouncer --version 2>/dev/null | sed -nE '1s/PgBouncer //p') (started by the tests)"
say "PostgreSQL $version on 127.0.0.1:$PG_PORT, Redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') on 127.0.0.1:$REDIS_PORT"
