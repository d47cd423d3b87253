#!/usr/bin/env bash
# cdc.sh — the change data capture benchmark (part of `make bench`).
#
# The source is a wal_level=logical cluster (scripts/pg-logical.sh); the
# destination is another server (scripts/pg-ensure.sh), so the source's WAL
# sender decodes only the source's writes, as in production. It
#  1. snapshots a 200,000-row table (first run: slot + snapshot);
#  2. applies a burst of mixed changes generated at full speed (CHANGES_TXNS
#     transactions of 50 inserts, 50 updates and 20 deletes each) with one
#     bounded run, and reports changes applied per second and Rapidbyte's
#     CPU per change;
#  3. writes a steady STEADY_RATE changes/s (inserts stamped with
#     clock_timestamp()) for STEADY_SECS seconds while one `run --follow`
#     streams it, stops the follow with SIGINT, and reports the lag
#     (destination apply time minus source write time) of every row:
#     median, p95 and max, plus the largest slot lag (WAL end minus
#     confirmed_flush_lsn) sampled during the follow.
# Then it checks that the destination equals the source.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/pg-logical.sh)"
dsn="$RAPIDBYTE_TEST_PG_LOGICAL_DSN"
hostport="${dsn#postgres://postgres@}"; hostport="${hostport%%/*}"
host="${hostport%:*}"; port="${hostport#*:}"
eval "$(scripts/pg-ensure.sh)"
dhost="$PGHOST" dport="$PGPORT"
if [ "$dhost:$dport" = "$host:$port" ]; then
  echo "cdc bench: the destination server ($dhost:$dport) is the source server: set PGPORT or RAPIDBYTE_PG_LOGICAL_PORT apart" >&2
  exit 1
fi
export RAPIDBYTE_CACHE_DIR="${RAPIDBYTE_CACHE_DIR:-$PWD/build/wazero-cache}"
export RAPIDBYTE_CONNECTORS_DIR="${RAPIDBYTE_CONNECTORS_DIR:-$PWD/dist/connectors}"
bin/rapidbyte-worker --warm-only --connectors-dir "$RAPIDBYTE_CONNECTORS_DIR" --cache-dir "$RAPIDBYTE_CACHE_DIR" --log-level warn

echo "cdc bench: source $host:$port, destination $dhost:$dport; $(uptime)"
TXNS="${CHANGES_TXNS:-2000}"
RATE="${STEADY_RATE:-5000}"
SECS="${STEADY_SECS:-30}"
src=rb_bench_cdc_src dst=rb_bench_cdc_dst pipeline=bench_cdc
q() { psql -X -q -h "$host" -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
qd() { psql -X -q -h "$dhost" -p "$dport" -U postgres -v ON_ERROR_STOP=1 "$@"; }

q -d "$src" -tAc "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'rapidbyte_$pipeline'" >/dev/null 2>&1 || true
q -d postgres -c "DROP DATABASE IF EXISTS $src WITH (FORCE)" -c "CREATE DATABASE $src"
qd -d postgres -c "DROP DATABASE IF EXISTS $dst WITH (FORCE)" -c "CREATE DATABASE $dst"
q -d "$src" -c "CREATE TABLE ev (id bigint PRIMARY KEY, v int NOT NULL, payload text, created timestamptz NOT NULL DEFAULT clock_timestamp())
  ; INSERT INTO ev (id, v, payload) SELECT g, g % 1000, md5(g::text) FROM generate_series(1, 200000) g"
# The destination table carries the time each row was applied.
qd -d "$dst" -c "CREATE TABLE ev (id bigint PRIMARY KEY, v int NOT NULL, payload text, created timestamptz NOT NULL, applied timestamptz DEFAULT clock_timestamp())"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/p.yaml" <<YAML
version: "1.0"
pipeline: $pipeline
source:
  use: source-postgres
  config: {host: $host, port: $port, user: postgres, database: $src, schema: public}
  streams:
    - {name: ev, sync_mode: cdc}
destination:
  use: dest-postgres
  config: {host: $dhost, port: $dport, user: postgres, database: $dst, schema: public}
YAML
# pgcpu Q prints the CPU ticks of the exited children of the server Q
# talks to (its WAL senders and backends, once they end), when it runs on
# this machine.
pgcpu() {
  local pm
  pm=$($1 -d postgres -tAc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" 2>/dev/null) || return 0
  pm=$(awk '{print $4}' "/proc/$pm/stat" 2>/dev/null) || return 0
  awk '{print $16 + $17}' "/proc/$pm/stat" 2>/dev/null || true
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['$1'])"; }
export RAPIDBYTE_STATE="sqlite://$work/state.db"

out=$(bin/rapidbyte run -o json "$work/p.yaml")
echo "snapshot: $(echo "$out" | field records_written) rows in $(echo "$out" | field duration_secs) s"

q -d "$src" -c "DO \$\$ DECLARE b bigint; BEGIN
  FOR i IN 1..$TXNS LOOP
    b := 1000000 + i * 50;
    INSERT INTO ev (id, v, payload) SELECT g, 0, md5(g::text) FROM generate_series(b, b + 49) g;
    UPDATE ev SET v = v + 1 WHERE id BETWEEN (i * 97) % 199000 + 1 AND (i * 97) % 199000 + 50;
    DELETE FROM ev WHERE id BETWEEN b - 50 AND b - 31;
    COMMIT;
  END LOOP; END \$\$"
changes=$((TXNS * 120))
s0=$(pgcpu q) d0=$(pgcpu qd)
out=$(/usr/bin/time -o "$work/time" -f "%U %S" bin/rapidbyte run -o json "$work/p.yaml")
s1=$(pgcpu q) d1=$(pgcpu qd)
secs=$(echo "$out" | field duration_secs)
read -r usr sys <"$work/time"
python3 -c "print('burst: $changes changes (%d transactions) applied in %.2f s: %.0f changes/s end to end; Rapidbyte CPU %.1f s (%.1f us/change)' % ($TXNS, $secs, $changes / $secs, $usr + $sys, ($usr + $sys) * 1e6 / $changes))"
# The apply rate without the run's start-up: from the first to the last
# applied insert of the burst (the first batch's apply time is left out).
window=$(qd -d "$dst" -tAc "SELECT extract(epoch FROM max(applied) - min(applied)) FROM ev WHERE id > 1000000 AND id < 10000000")
python3 -c "print('  first to last applied change: %.2f s: %.0f changes/s' % ($window, $changes / $window))"
if [ -n "$s0" ] && [ -n "$d0" ]; then
  python3 -c "print('  PostgreSQL CPU of the run (WAL sender, backends): source %.1f s, destination %.1f s (%.1f us/change)' % (($s1 - $s0) / 100, ($d1 - $d0) / 100, ($s1 - $s0 + $d1 - $d0) * 1e4 / $changes))"
fi

# Steady load, followed by one `run --follow`.
steady() { # $1: first id
  q -d "$src" -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); b bigint; BEGIN
    FOR i IN 1..($RATE / 100) * $SECS LOOP
      b := $1 + i * 100;
      INSERT INTO ev (id, v, payload) SELECT g, 1, md5(g::text) FROM generate_series(b, b + 99) g;
      COMMIT;
      PERFORM pg_sleep(greatest(0, extract(epoch FROM t0 + (i * 100.0 / $RATE) * interval '1 second' - clock_timestamp())));
    END LOOP; END \$\$"
}
s0=$(pgcpu q) d0=$(pgcpu qd)
/usr/bin/time -o "$work/ftime" -f "%U %S" bin/rapidbyte run --follow -o json "$work/p.yaml" >"$work/follow.json" &
follow=$!
until [ "$(q -d "$src" -tAc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'rapidbyte_$pipeline' AND active")" = 1 ]; do sleep 0.2; done
steady 20000000 &
writer=$!
slotmax=0
while kill -0 "$writer" 2>/dev/null; do
  l=$(q -d "$src" -tAc "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = 'rapidbyte_$pipeline'")
  [ "$l" -gt "$slotmax" ] && slotmax=$l
  sleep 0.5
done
wait "$writer"
sleep 3
# SIGINT to the run, not to time(1), which ignores it while it waits.
kill -INT "$(pgrep -P "$follow")"
wait "$follow"
echo "follow: $RATE changes/s for $SECS s, one run --follow (stopped with SIGINT: $(field state <"$work/follow.json")); lag (applied - committed):"
qd -d "$dst" -tAc "SELECT format('  median %s s, p95 %s s, max %s s over %s rows',
  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM applied - created))::numeric, 2),
  round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM applied - created))::numeric, 2),
  round(max(extract(epoch FROM applied - created))::numeric, 2), count(*)) FROM ev WHERE id >= 20000000"
s1=$(pgcpu q) d1=$(pgcpu qd)
read -r usr sys <"$work/ftime"
python3 -c "print('  Rapidbyte CPU of the follow run %.1f s (%.1f us/change, start-up and the idle seconds included)' % ($usr + $sys, ($usr + $sys) * 1e6 / ($RATE * $SECS)))"
if [ -n "$s0" ] && [ -n "$d0" ]; then
  python3 -c "print('  PostgreSQL CPU of the follow (WAL sender, backends): source %.1f s, destination %.1f s' % (($s1 - $s0) / 100, ($d1 - $d0) / 100))"
fi
echo "  largest slot lag sampled during the follow: $slotmax bytes of WAL"

src_sum=$(q -d "$src" -tAc "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v || ':' || coalesce(payload, ''), ',' ORDER BY id)) FROM ev")
dst_sum=$(qd -d "$dst" -tAc "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v || ':' || coalesce(payload, ''), ',' ORDER BY id)) FROM ev")
[ "$src_sum" = "$dst_sum" ] || { echo "cdc bench: destination differs from source: $src_sum vs $dst_sum"; exit 1; }
echo "destination equals source ($src_sum); $(uptime)"
q -d "$src" -tAc "SELECT pg_drop_replication_slot('rapidbyte_$pipeline')" >/dev/null
