#!/usr/bin/env bash
# run.sh — `make bench`: makes PostgreSQL reachable, then runs the benchmark
# (bench/main.go). Flags pass through, e.g. bench/run.sh -rows 5000000 -reps 1.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/pg-ensure.sh)"
# The whole-database workload runs beside Debian's pgcopydb.
if ! command -v pgcopydb >/dev/null && [[ " $* " != *" -db=false "* ]]; then
  echo "bench: installing pgcopydb with apt-get" >&2
  apt-get install -y -qq pgcopydb >&2 || { apt-get update -qq >&2 && apt-get install -y -qq pgcopydb >&2; }
fi
mkdir -p build
export RAPIDBYTE_CACHE_DIR="${RAPIDBYTE_CACHE_DIR:-$PWD/build/wazero-cache}"
export RAPIDBYTE_CONNECTORS_DIR="${RAPIDBYTE_CONNECTORS_DIR:-$PWD/dist/connectors}"
# Compile the connectors once, untimed: the benchmark measures data movement.
bin/rapidbyte-worker --warm-only --connectors-dir "$RAPIDBYTE_CONNECTORS_DIR" --cache-dir "$RAPIDBYTE_CACHE_DIR" --log-level warn
go -C bench build -o "$PWD/bin/rapidbyte-bench" .
exec bin/rapidbyte-bench -root "$PWD" "$@"
