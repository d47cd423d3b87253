#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] — run every Go fuzz target in the workspace briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${1:-10s}"
grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | sort | while read -r file; do
  dir=$(dirname "$file"); mod=${dir#./}; mod=${mod%%/*}
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    echo "== fuzz $target ($dir, $time)"
    go -C "$mod" test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "./${dir#./$mod/}"
  done
done
