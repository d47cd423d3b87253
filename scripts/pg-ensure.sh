#!/usr/bin/env bash
# pg-ensure.sh — make a PostgreSQL server reachable and print how to reach it.
#
# Uses the server on $PGHOST:$PGPORT (default 127.0.0.1:5432) when it answers
# as user postgres. Otherwise it starts a throwaway cluster (installing the
# PostgreSQL packages with apt-get when no binaries exist) under
# $RAPIDBYTE_PG_DIR (default /tmp/rapidbyte-pg) on port $RAPIDBYTE_PG_PORT
# (default 55432), trust auth, superuser postgres.
#
# Prints shell assignments on stdout, for `eval "$(scripts/pg-ensure.sh)"`:
#   PGHOST=... PGPORT=... PGUSER=postgres RAPIDBYTE_TEST_PG_DSN=...
# Progress goes to stderr.
set -euo pipefail

host="${PGHOST:-127.0.0.1}"
port="${PGPORT:-5432}"
dir="${RAPIDBYTE_PG_DIR:-/tmp/rapidbyte-pg}"
alt_port="${RAPIDBYTE_PG_PORT:-55432}"

say() { echo "pg-ensure: $*" >&2; }
answers() { psql -X -q -h "$1" -p "$2" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; }
emit() {
  echo "export PGHOST=$1 PGPORT=$2 PGUSER=postgres"
  echo "export RAPIDBYTE_TEST_PG_DSN=postgres://postgres@$1:$2/postgres?sslmode=disable"
}

if command -v psql >/dev/null 2>&1 && answers "$host" "$port"; then
  say "using PostgreSQL on $host:$port"
  emit "$host" "$port"
  exit 0
fi

# A cluster already running in this machine's Debian layout? Start it.
if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q .; then
  read -r ver name cport _ < <(pg_lsclusters -h | head -1)
  if [ "$cport" = "$port" ]; then
    say "starting cluster $ver/$name"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 2>&1 || true
    for _ in $(seq 1 30); do answers "$host" "$port" && { emit "$host" "$port"; exit 0; }; sleep 1; done
  fi
fi

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
  say "installing PostgreSQL with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-client >&2
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

if answers 127.0.0.1 "$alt_port"; then
  say "using throwaway PostgreSQL on 127.0.0.1:$alt_port"
  emit 127.0.0.1 "$alt_port"
  exit 0
fi

run_as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

say "starting a throwaway cluster in $dir on port $alt_port"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir" 2>/dev/null || true
if [ ! -f "$dir/PG_VERSION" ]; then
  run_as_pg "$pgbin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
fi
run_as_pg "$pgbin/pg_ctl" -D "$dir" -l "$dir.log" -w \
  -o "-p $alt_port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
emit 127.0.0.1 "$alt_port"
