#!/usr/bin/env bash
# pg-logical.sh — make a PostgreSQL server with wal_level=logical reachable
# and print how to reach it, for the change data capture tests.
#
# Uses the server on 127.0.0.1:$RAPIDBYTE_PG_LOGICAL_PORT (default 55433)
# when it answers as user postgres with wal_level=logical. Otherwise it
# starts a throwaway cluster under $RAPIDBYTE_PG_LOGICAL_DIR (default
# /tmp/rapidbyte-pg-logical) on that port: trust auth, superuser postgres,
# wal_level=logical, fsync off.
#
# Prints one shell assignment on stdout, for `eval "$(scripts/pg-logical.sh)"`:
#   export RAPIDBYTE_TEST_PG_LOGICAL_DSN=postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
# Progress goes to stderr.
set -euo pipefail

port="${RAPIDBYTE_PG_LOGICAL_PORT:-55433}"
dir="${RAPIDBYTE_PG_LOGICAL_DIR:-/tmp/rapidbyte-pg-logical}"

say() { echo "pg-logical: $*" >&2; }
wal_level() { psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc 'show wal_level' 2>/dev/null; }
emit() { echo "export RAPIDBYTE_TEST_PG_LOGICAL_DSN=postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"; }

if command -v psql >/dev/null 2>&1; then
  case "$(wal_level || true)" in
  logical) say "using PostgreSQL on 127.0.0.1:$port"; emit; exit 0 ;;
  "") ;;
  *) say "the server on 127.0.0.1:$port does not run with wal_level=logical; set RAPIDBYTE_PG_LOGICAL_PORT to a free port"; exit 1 ;;
  esac
fi

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
  say "no PostgreSQL server binaries under /usr/lib/postgresql: run scripts/pg-ensure.sh once (it installs them)"
  exit 1
fi

run_as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

say "starting a throwaway cluster with wal_level=logical in $dir on port $port"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir" 2>/dev/null || true
if [ ! -f "$dir/PG_VERSION" ]; then
  run_as_pg "$pgbin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
fi
touch "$dir.log"; [ "$(id -u)" = 0 ] && chown postgres "$dir.log" 2>/dev/null || true
run_as_pg "$pgbin/pg_ctl" -D "$dir" -l "$dir.log" -w \
  -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c wal_level=logical -c max_replication_slots=50 -c max_wal_senders=50" start >&2
emit
