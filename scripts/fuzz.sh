#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] — run every Go fuzz target in the workspace briefly.
#
# FUZZTIME defaults to an execution count (30000x), not a duration: with a
# wall-clock -fuzztime, Go's fuzz coordinator can race its own deadline on a
# loaded machine and fail a target with a bare "context deadline exceeded"
# although nothing was found (seen in CI). A count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${1:-30000x}"
grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | sort | while read -r file; do
  dir=$(dirname "$file"); mod=${dir#./}; mod=${mod%%/*}
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    echo "== fuzz $target ($dir, $time)"
    go -C "$mod" test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "./${dir#./$mod/}"
  done
done
