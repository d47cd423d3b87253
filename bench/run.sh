#!/usr/bin/env bash
# run.sh — `make bench`: makes PostgreSQL reachable, then runs the benchmark
# (bench/main.go). Flags pass through, e.g. bench/run.sh -rows 5000000 -reps 1.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/pg-ensure.sh)"
mkdir -p build
go -C bench build -o "$PWD/bin/rapidbyte-bench" .
exec bin/rapidbyte-bench -root "$PWD" "$@"
