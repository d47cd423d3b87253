#!/usr/bin/env bash
# make-data.sh [N] [DB] [DSTDB]
# Create source tables in database DB (default rb_bench_src, created if missing):
#   public.bench_events    N rows, no NULLs, mixed types
#   public.bench_events_j  same rows + jsonb column, ~10% NULLs in every nullable column
# Also creates the empty destination database DSTDB (default rb_bench_dst). Prints sizes.
# Env: PGHOST (default 127.0.0.1), PGPORT (default 5432), PGUSER (default postgres).
# Adapted from ../shared/bench/make-data.sh (same table shapes).
set -euo pipefail
N="${1:-1000000}"
DB="${2:-rb_bench_src}"
DST="${3:-rb_bench_dst}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
PSQL=(psql -X -v ON_ERROR_STOP=1 -q)

for d in "$DB" "$DST"; do
  "${PSQL[@]}" -d postgres -Atc "select 1 from pg_database where datname='$d'" | grep -q 1 \
    || "${PSQL[@]}" -d postgres -c "create database $d"
done

"${PSQL[@]}" -d "$DB" <<SQL
DROP TABLE IF EXISTS public.bench_events, public.bench_events_j;
CREATE TABLE public.bench_events (
  id          bigint NOT NULL,
  event_type  text NOT NULL,
  user_id     int NOT NULL,
  amount      double precision NOT NULL,
  price       numeric(12,2) NOT NULL,
  payload     text NOT NULL,
  created_at  timestamptz NOT NULL,
  is_active   boolean NOT NULL
);
INSERT INTO public.bench_events
SELECT i,
       (ARRAY['click','view','purchase','signup','logout','search'])[1 + (i % 6)],
       (i * 7919) % 100000,
       ((i * 2654435761) % 1000000) / 100.0,
       (((i * 40503) % 1000000) / 100.0)::numeric(12,2),
       md5(i::text) || md5((i + 1)::text) || substr(md5((i + 2)::text), 1, 36),   -- 100 chars
       timestamptz '2024-01-01 00:00:00+00' + (i * interval '1 second'),
       (i % 3) <> 0
FROM generate_series(1::bigint, $N::bigint) AS g(i);
ALTER TABLE public.bench_events ADD PRIMARY KEY (id);

-- variant: jsonb column + ~10% NULLs in each nullable column (independent patterns)
CREATE TABLE public.bench_events_j (
  id          bigint PRIMARY KEY,
  event_type  text,
  user_id     int,
  amount      double precision,
  price       numeric(12,2),
  payload     text,
  created_at  timestamptz,
  is_active   boolean,
  attrs       jsonb
);
INSERT INTO public.bench_events_j
SELECT id,
       CASE WHEN id % 10 = 1 THEN NULL ELSE event_type END,
       CASE WHEN id % 10 = 2 THEN NULL ELSE user_id END,
       CASE WHEN id % 10 = 3 THEN NULL ELSE amount END,
       CASE WHEN id % 10 = 4 THEN NULL ELSE price END,
       CASE WHEN id % 10 = 5 THEN NULL ELSE payload END,
       CASE WHEN id % 10 = 6 THEN NULL ELSE created_at END,
       CASE WHEN id % 10 = 7 THEN NULL ELSE is_active END,
       CASE WHEN id % 10 = 8 THEN NULL
            ELSE jsonb_build_object('src', 'web', 'n', id % 1000, 'ok', is_active,
                                    'tags', jsonb_build_array(event_type, 'x' || (id % 17))) END
FROM public.bench_events;

VACUUM (FREEZE, ANALYZE) public.bench_events, public.bench_events_j;   -- set hint bits / VM up front
CHECKPOINT;
SQL

"${PSQL[@]}" -d "$DB" -c "
SELECT c.relname,
       c.reltuples::bigint AS rows,
       round(pg_relation_size(c.oid)/1048576.0, 1)       AS heap_mb,
       round(pg_total_relation_size(c.oid)/1048576.0, 1) AS total_mb_with_index_toast,
       round(pg_relation_size(c.oid)::numeric / greatest(c.reltuples,1)::numeric, 1) AS heap_bytes_per_row
FROM pg_class c WHERE c.relname IN ('bench_events','bench_events_j') ORDER BY 1;"
