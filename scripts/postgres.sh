#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for tests; prints its SQLAlchemy URL for Prefect.
#   eval "$(bash scripts/postgres.sh start)"   # sets PIPEFORM_PG_DIR and PIPEFORM_TEST_DATABASE_URL
#   bash scripts/postgres.sh stop "$PIPEFORM_PG_DIR"
set -euo pipefail
cmd=${1:-start}
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ "$cmd" = stop ]; then
  dir=${2:?data directory}
  su postgres -s /bin/sh -c "$(find_bin)/pg_ctl -D '$dir/data' -m fast stop" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi
if [ -z "$(find_bin)" ] || [ ! -x "$(find_bin)/initdb" ]; then
  echo "installing PostgreSQL from Debian packages" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(find_bin)
dir=$(mktemp -d /tmp/pipeform-pg.XXXXXX)
chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
su postgres -s /bin/sh -c "$bin/initdb -D '$dir/data' -A trust -U postgres" >/dev/null
su postgres -s /bin/sh -c "$bin/pg_ctl -D '$dir/data' -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -l '$dir/log' -w start" >/dev/null
su postgres -s /bin/sh -c "$bin/createdb -h 127.0.0.1 -p $port -U postgres prefect"
echo "export PIPEFORM_PG_DIR=$dir"
echo "export PIPEFORM_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:$port/prefect"
