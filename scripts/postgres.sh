#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks (Prefect's production database).
#
#   eval "$(bash scripts/postgres.sh start)"   # exports PIPEFORM_PG_DIR and PIPEFORM_TEST_DATABASE_URL
#   bash scripts/postgres.sh stop [DIR]         # DIR defaults to $PIPEFORM_PG_DIR
#
# `start` installs PostgreSQL from Debian packages when its binaries are missing, creates a
# cluster in a fresh temp dir (owned by the `postgres` user when run as root: initdb refuses
# root), starts it on a free port with its socket in that dir, creates database `prefect`,
# and prints shell exports; the URL (postgresql+asyncpg://postgres@127.0.0.1:PORT/prefect)
# is also printed on stderr. Trust authentication on 127.0.0.1 only: for tests, never prod.
set -euo pipefail
cmd=${1:-start}

find_bin() {
  # Debian keeps initdb/pg_ctl off PATH, under /usr/lib/postgresql/<major>/bin.
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ] && command -v dpkg >/dev/null; then
    d=$(dpkg -L "$(dpkg -l 'postgresql-[0-9]*' 2>/dev/null | awk '/^ii/{print $2}' | tail -n 1)" 2>/dev/null \
      | grep '/bin/initdb$' | xargs -r dirname || true)
  fi
  if [ -z "$d" ] && command -v initdb >/dev/null; then d=$(dirname "$(command -v initdb)"); fi
  echo "$d"
}

# Run a PostgreSQL tool as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

case "$cmd" in
  stop)
    dir=${2:-${PIPEFORM_PG_DIR:?usage: postgres.sh stop DIR}}
    bin=$(find_bin)
    [ -d "$dir/data" ] && as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  start)
    bin=$(find_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
      [ "$(id -u)" = 0 ] || { echo "PostgreSQL is not installed and installing it needs root" >&2; exit 1; }
      echo "installing PostgreSQL from Debian packages..." >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
      bin=$(find_bin)
    fi
    dir=$(mktemp -d /tmp/pipeform-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync" >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # Extra server settings, e.g. PIPEFORM_PG_OPTIONS="-c fsync=off" (durable by default, like production).
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 start \
      -o \"-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 ${PIPEFORM_PG_OPTIONS:-}\"" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres prefect"
    url="postgresql+asyncpg://postgres@127.0.0.1:$port/prefect"
    echo "PostgreSQL ready: $url (data in $dir)" >&2
    echo "export PIPEFORM_PG_DIR=$dir"
    echo "export PIPEFORM_TEST_DATABASE_URL=$url"
    ;;
  *)
    echo "usage: postgres.sh start | stop [DIR]" >&2
    exit 2
    ;;
esac
