#!/usr/bin/env bash
# vulncheck.sh GOVULNCHECK DB MODULE... — govulncheck every module in one pass
# and fail on a vulnerability the code calls, unless scripts/vulncheck-accepted.txt
# lists its ID with the reason it cannot be fixed here yet.
#
# DB is govulncheck's -db: `make vulncheck` passes the local copy it builds
# from the pinned golang.org/x/vulndb module (file://...), or VULNDB=https://vuln.go.dev.
# Findings in modules the code imports but does not call are printed by
# `govulncheck -show verbose` and do not fail the gate (govulncheck's own rule).
set -euo pipefail
cd "$(dirname "$0")/.."
govulncheck=$1 db=$2; shift 2
patterns=()
for m in "$@"; do patterns+=("github.com/rapidbyte/rapidbyte/$m/..."); done
out=$(mktemp); trap 'rm -f "$out"' EXIT
echo "govulncheck $(GOWORK=off go -C tools/lint list -m -f '{{.Version}}' golang.org/x/vuln) -db $db: ${patterns[*]}"
# One run over the workspace (from any module's directory) loads the shared
# dependencies once; -format json exits 0 with findings, the filter decides.
"$govulncheck" -C "$1" -db "$db" -format json "${patterns[@]}" >"$out"
python3 - "$out" scripts/vulncheck-accepted.txt <<'PY'
import json, sys
text = open(sys.argv[1]).read()
accepted = {}
for line in open(sys.argv[2]):
    line = line.split("#", 1)[0].strip()
    if line:
        vid, _, why = line.partition(" ")
        accepted[vid] = why.strip()
dec, i, called, config = json.JSONDecoder(), 0, {}, {}
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    config = obj.get("config", config)
    f = obj.get("finding")
    if f and f["trace"][0].get("function"):  # symbol level: the code calls it
        t = f["trace"][0]
        called.setdefault(f["osv"], f"{t.get('module')} {t.get('package')} {t.get('version')}, fixed in {f.get('fixed_version') or 'no release'}")
print(f"db last modified {config.get('db_last_modified')}, go {config.get('go_version')}")
failed = False
for vid, what in sorted(called.items()):
    if vid in accepted:
        print(f"accepted  {vid}: {what} ({accepted[vid]})")
    else:
        print(f"CALLED    {vid}: {what}: fix it (go get the fixed version), or list it in {sys.argv[2]} with the reason")
        failed = True
for vid in sorted(set(accepted) - set(called)):
    print(f"stale     {vid} is accepted but no longer found: remove it from {sys.argv[2]}")
    failed = True
print(f"vulncheck: {len(called)} called vulnerabilities, {len(called) - sum(v in accepted for v in called)} not accepted")
sys.exit(1 if failed else 0)
PY
