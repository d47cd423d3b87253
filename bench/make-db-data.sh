#!/usr/bin/env bash
# make-db-data.sh SRCDB DSTDB NAME:ROWS:SHAPE...
# Create the whole-database workload in SRCDB (created if missing, and
# holding only these tables in public): one table per NAME:ROWS:SHAPE, SHAPE
# e (bench_events: no NULLs, mixed types) or j (bench_events_j: jsonb column,
# ~10% NULLs in every nullable column), ids 1..ROWS, primary key on id.
# Also creates the empty destination database DSTDB. bench/wholedb.go passes
# the tables.
# Env: PGHOST (default 127.0.0.1), PGPORT (default 5432), PGUSER (default postgres).
set -euo pipefail
SRC="$1"; DST="$2"; shift 2
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
PSQL=(psql -X -v ON_ERROR_STOP=1 -q)

for d in "$SRC" "$DST"; do
  "${PSQL[@]}" -d postgres -Atc "select 1 from pg_database where datname='$d'" | grep -q 1 \
    || "${PSQL[@]}" -d postgres -c "create database $d"
done

sql="DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
for spec in "$@"; do
  IFS=: read -r name rows shape <<<"$spec"
  base="SELECT i AS id,
       (ARRAY['click','view','purchase','signup','logout','search'])[1 + (i % 6)] AS event_type,
       ((i * 7919) % 100000)::int AS user_id,
       ((i * 2654435761) % 1000000) / 100.0::double precision AS amount,
       (((i * 40503) % 1000000) / 100.0)::numeric(12,2) AS price,
       md5(i::text) || md5((i + 1)::text) || substr(md5((i + 2)::text), 1, 36) AS payload,
       timestamptz '2024-01-01 00:00:00+00' + (i * interval '1 second') AS created_at,
       (i % 3) <> 0 AS is_active
     FROM generate_series(1::bigint, ${rows}::bigint) AS g(i)"
  if [ "$shape" = j ]; then
    sql+="
CREATE TABLE public.$name AS
SELECT id,
       CASE WHEN id % 10 = 1 THEN NULL ELSE event_type END AS event_type,
       CASE WHEN id % 10 = 2 THEN NULL ELSE user_id END AS user_id,
       CASE WHEN id % 10 = 3 THEN NULL ELSE amount END AS amount,
       CASE WHEN id % 10 = 4 THEN NULL ELSE price END AS price,
       CASE WHEN id % 10 = 5 THEN NULL ELSE payload END AS payload,
       CASE WHEN id % 10 = 6 THEN NULL ELSE created_at END AS created_at,
       CASE WHEN id % 10 = 7 THEN NULL ELSE is_active END AS is_active,
       CASE WHEN id % 10 = 8 THEN NULL
            ELSE jsonb_build_object('src', 'web', 'n', id % 1000, 'ok', is_active,
                                    'tags', jsonb_build_array(event_type, 'x' || (id % 17))) END AS attrs
FROM ($base) b;"
  else
    sql+="
CREATE TABLE public.$name AS $base;
ALTER TABLE public.$name ALTER COLUMN event_type SET NOT NULL, ALTER COLUMN user_id SET NOT NULL,
  ALTER COLUMN amount SET NOT NULL, ALTER COLUMN price SET NOT NULL, ALTER COLUMN payload SET NOT NULL,
  ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN is_active SET NOT NULL;"
  fi
  sql+="
ALTER TABLE public.$name ADD PRIMARY KEY (id);"
done
"${PSQL[@]}" -d "$SRC" -c "$sql"
"${PSQL[@]}" -d "$SRC" -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
"${PSQL[@]}" -d "$SRC" -c "
SELECT count(*) AS tables, sum(c.reltuples)::bigint AS rows, round(sum(pg_relation_size(c.oid))/1048576.0, 1) AS heap_mb
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r';"
