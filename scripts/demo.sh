#!/usr/bin/env bash
# demo.sh — the first of the README's two commands (run by `make demo`).
# Makes PostgreSQL reachable, seeds a demo source database, then runs
# `rapidbyte discover` and `rapidbyte run` of examples/pg_to_pg.yaml with an
# embedded coordinator and worker.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/pg-ensure.sh)"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
for db in rapidbyte_demo_src rapidbyte_demo_dst; do
  psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 || psql -d postgres -c "CREATE DATABASE $db"
done
psql -d rapidbyte_demo_src -f scripts/demo-seed.sql
export RAPIDBYTE_STATE="sqlite://$PWD/build/demo-state.db"
export RAPIDBYTE_CONNECTORS_DIR="$PWD/dist/connectors"
mkdir -p build
echo
echo "\$ rapidbyte discover examples/pg_to_pg.yaml"
bin/rapidbyte discover examples/pg_to_pg.yaml
echo
echo "\$ rapidbyte run examples/pg_to_pg.yaml"
bin/rapidbyte run examples/pg_to_pg.yaml
echo
echo "destination row counts:"
psql -d rapidbyte_demo_dst -c "SELECT 'users' AS t, count(*) FROM raw.users UNION ALL SELECT 'orders', count(*) FROM raw.orders UNION ALL SELECT 'events', count(*) FROM raw.events"
