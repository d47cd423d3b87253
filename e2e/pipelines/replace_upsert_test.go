package pipelines

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestReplaceTwice replaces the destination table twice: no duplicates,
// rows deleted in the source disappear, updated rows change, and no staging
// table is left behind.
func TestReplaceTwice(t *testing.T) {
	p := newPair(t, "repl")
	p.src.Exec(t, `
CREATE TABLE accounts (id int PRIMARY KEY, name text, balance numeric(14,2), tags text[]);
INSERT INTO accounts SELECT g, 'acct ' || g, g * 10.25, ARRAY['t' || (g % 3), NULL] FROM generate_series(1, 10000) g;`)
	pl := p.pipeline("e2e_repl", "public", "replace", e2etest.Stream{Name: "accounts"})
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)

	runOK(t, env, file)
	wantEqual(t, "count after first replace", p.dst.Count(t, "accounts"), 10000)
	e2etest.RequireSameTable(t, p.src, p.dst, "accounts", "accounts", "r.id")

	p.src.Exec(t, `
DELETE FROM accounts WHERE id % 10 = 0;
UPDATE accounts SET name = 'renamed ' || id, balance = -balance WHERE id % 7 = 0;
INSERT INTO accounts SELECT g, 'late ' || g, 1, '{}' FROM generate_series(10001, 10500) g;`)
	want := p.src.Count(t, "accounts")
	second, _ := runOK(t, env, file)
	wantEqual(t, "second run records_written", int64(second.RecordsWritten), want)
	wantEqual(t, "count after second replace", p.dst.Count(t, "accounts"), want)
	wantEqual(t, "deleted rows still present", p.dst.Int64(t, "SELECT count(*) FROM accounts WHERE id <= 10000 AND id % 10 = 0"), 0)
	wantEqual(t, "duplicated ids", p.dst.Int64(t, "SELECT count(*) - count(DISTINCT id) FROM accounts"), 0)
	e2etest.RequireSameTable(t, p.src, p.dst, "accounts", "accounts", "r.id")
	wantEqual(t, "staging tables left", p.dst.Int64(t, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_rb\\_stage\\_%'"), 0)
}

// TestUpsertIncremental upserts on the primary key with an incremental
// cursor: the second run reads only updated and new rows, applies the
// updates in place, and the destination matches the source exactly.
func TestUpsertIncremental(t *testing.T) {
	p := newPair(t, "upsert")
	p.src.Exec(t, `
CREATE TABLE products (id int PRIMARY KEY, sku text NOT NULL, price numeric(10,2), stock int, updated_at timestamp NOT NULL);
INSERT INTO products SELECT g, 'SKU-' || g, g * 1.5, g % 100, timestamp '2024-01-01' + g * interval '1 second'
  FROM generate_series(1, 8000) g;`)
	pl := p.pipeline("e2e_upsert", "public", "upsert",
		e2etest.Stream{Name: "products", SyncMode: "incremental", CursorField: "updated_at", TieBreakerField: "id"})
	pl.PrimaryKey = []string{"id"}
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)

	runOK(t, env, file)
	wantEqual(t, "count after first run", p.dst.Count(t, "products"), 8000)
	e2etest.RequireSameTable(t, p.src, p.dst, "products", "products", "r.id")

	p.src.Exec(t, `
UPDATE products SET price = price * 2, stock = -1, sku = sku || '-v2', updated_at = timestamp '2025-01-01' + id * interval '1 millisecond'
  WHERE id % 16 = 0;
INSERT INTO products SELECT g, 'SKU-' || g, 9.99, 0, timestamp '2025-02-01' FROM generate_series(8001, 8300) g;`)
	second, _ := runOK(t, env, file)
	wantEqual(t, "second run records_read (500 updated + 300 new)", second.RecordsRead, 800)
	wantEqual(t, "count after second run", p.dst.Count(t, "products"), 8300)
	wantEqual(t, "updated rows applied", p.dst.Int64(t, "SELECT count(*) FROM products WHERE stock = -1 AND sku LIKE '%-v2'"), 500)
	e2etest.RequireSameTable(t, p.src, p.dst, "products", "products", "r.id")

	// A full-refresh upsert of the same table keeps the count stable.
	full := p.pipeline("e2e_upsert_full", "public", "upsert", e2etest.Stream{Name: "products"})
	full.PrimaryKey = []string{"id"}
	third, _ := runOK(t, env, full.Write(t))
	wantEqual(t, "full upsert records_read", third.RecordsRead, 8300)
	wantEqual(t, "count after full upsert", p.dst.Count(t, "products"), 8300)
	e2etest.RequireSameTable(t, p.src, p.dst, "products", "products", "r.id")
}

// TestProjection copies only the listed columns.
func TestProjection(t *testing.T) {
	p := newPair(t, "proj")
	p.src.Exec(t, `
CREATE TABLE people (id int PRIMARY KEY, name text, secret text, age smallint, bio text);
INSERT INTO people SELECT g, 'name ' || g, 'hunter' || g, (g % 90)::smallint, repeat('x', g % 20) FROM generate_series(1, 3000) g;`)
	pl := p.pipeline("e2e_proj", "public", "append", e2etest.Stream{Name: "people", Columns: []string{"id", "age", "name"}})
	rr, _ := runOK(t, e2etest.NewEmbeddedEnv(t), pl.Write(t))
	wantEqual(t, "records_written", rr.RecordsWritten, 3000)
	cols := p.dst.Strings(t, "SELECT attname::text FROM pg_attribute WHERE attrelid = 'public.people'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname")
	wantEqual(t, "destination columns", join(cols), "age, id, name")
	e2etest.RequireSameTable(t, p.src, p.dst, "people", "people", "r.id", "id", "age", "name")
}
