-- Seeds the demo source database (run by `make demo` against rapidbyte_demo_src).
DROP TABLE IF EXISTS users, orders, events;
CREATE TABLE users (
  id         bigint PRIMARY KEY,
  email      text NOT NULL,
  name       text,
  balance    numeric(12,2),
  tags       text[],
  updated_at timestamptz NOT NULL
);
INSERT INTO users
SELECT i, 'user' || i || '@example.com', CASE WHEN i % 10 = 0 THEN NULL ELSE 'User ' || i END,
       (i * 7.25)::numeric(12,2), ARRAY['t' || (i % 3), 'x'],
       timestamptz '2026-01-01' + i * interval '1 minute'
FROM generate_series(1, 1000) AS i;

CREATE TABLE orders (
  id       bigint PRIMARY KEY,
  user_id  bigint NOT NULL,
  amount   double precision,
  status   text,
  placed   date,
  payload  jsonb
);
INSERT INTO orders
SELECT i, 1 + i % 1000, i * 1.5, (ARRAY['new','paid','shipped'])[1 + i % 3], date '2026-01-01' + (i % 300),
       jsonb_build_object('n', i, 'ok', i % 2 = 0)
FROM generate_series(1, 5000) AS i;

CREATE TABLE events (
  id         bigint PRIMARY KEY,
  kind       text,
  user_id    int,
  amount     float8,
  price      numeric(12,2),
  payload    text,
  created_at timestamptz,
  is_active  boolean
);
INSERT INTO events
SELECT i, (ARRAY['click','view','purchase','signup'])[1 + i % 4], i % 5000, random() * 100,
       (random() * 1000)::numeric(12,2), repeat('x', 100), now() - i * interval '1 second', i % 2 = 0
FROM generate_series(1, 100000) AS i;
ANALYZE;
