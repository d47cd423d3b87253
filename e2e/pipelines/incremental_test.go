package pipelines

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestIncrementalTwoRuns reads a table incrementally on updated_at with id
// as tie-breaker: the second run must move exactly the rows inserted since
// the first (including rows sharing the last cursor value, which only the
// tie-breaker can tell apart), and a third run nothing.
func TestIncrementalTwoRuns(t *testing.T) {
	p := newPair(t, "incr")
	// Ten rows share each updated_at; the last group is ids 4991..5000.
	p.src.Exec(t, `
CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, label text, qty int);
INSERT INTO items SELECT g, timestamptz '2024-01-01 00:00:00+00' + ((g - 1) / 10) * interval '1 minute', 'item ' || g, g % 97
  FROM generate_series(1, 5000) g;`)
	pl := p.pipeline("e2e_incr", "public", "append",
		e2etest.Stream{Name: "items", SyncMode: "incremental", CursorField: "updated_at", TieBreakerField: "id"})
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)

	first, _ := runOK(t, env, file)
	wantEqual(t, "first run records_read", first.RecordsRead, 5000)
	wantEqual(t, "destination count after first run", p.dst.Count(t, "items"), 5000)
	e2etest.RequireSameTable(t, p.src, p.dst, "items", "items", "r.id")

	// 5 rows with the last cursor value already read (greater ids), then 1229 later ones.
	p.src.Exec(t, `
INSERT INTO items SELECT g, timestamptz '2024-01-01 00:00:00+00' + 499 * interval '1 minute', 'tie ' || g, 1
  FROM generate_series(5001, 5005) g;
INSERT INTO items SELECT g, timestamptz '2024-01-02 00:00:00+00' + (g % 50) * interval '1 second', 'new ' || g, 2
  FROM generate_series(5006, 6234) g;`)
	second, _ := runOK(t, env, file)
	wantEqual(t, "second run records_read", second.RecordsRead, 1234)
	wantEqual(t, "second run records_written", second.RecordsWritten, 1234)
	wantEqual(t, "destination count after second run", p.dst.Count(t, "items"), 6234)
	wantEqual(t, "duplicated ids", p.dst.Int64(t, "SELECT count(*) - count(DISTINCT id) FROM items"), 0)
	e2etest.RequireSameTable(t, p.src, p.dst, "items", "items", "r.id")

	third, _ := runOK(t, env, file)
	wantEqual(t, "third run records_read", third.RecordsRead, 0)
	wantEqual(t, "destination count after third run", p.dst.Count(t, "items"), 6234)
}

// TestIdempotencyKeyAndNewColumn resubmits a run with the same idempotency
// key (the earlier run comes back, nothing moves again), then adds columns
// to the source: the next incremental run adds them to the destination
// with their exact types and reads only new rows; rows with a NULL cursor
// are never read.
func TestIdempotencyKeyAndNewColumn(t *testing.T) {
	p := newPair(t, "idem")
	p.src.Exec(t, `CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, v text);
INSERT INTO ev SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'v' || g FROM generate_series(1, 1000) g;
INSERT INTO ev VALUES (0, '2020-01-01 00:00:00+00', NULL), (-1, NULL, 'null cursor');`)
	pl := p.pipeline("e2e_idem", "public", "append",
		e2etest.Stream{Name: "ev", SyncMode: "incremental", CursorField: "at", TieBreakerField: "id"})
	env := e2etest.NewEmbeddedEnv(t)
	file := pl.Write(t)

	first, _ := runOK(t, env, file, "--idempotency-key", "e2e-key-1")
	wantEqual(t, "first records_read", first.RecordsRead, 1001)
	again, _ := runOK(t, env, file, "--idempotency-key", "e2e-key-1")
	wantEqual(t, "resubmitted already_exists", again.AlreadyExists, true)
	wantEqual(t, "resubmitted run_id", again.RunID, first.RunID)
	wantEqual(t, "count after resubmission", p.dst.Count(t, "ev"), 1001)

	p.src.Exec(t, `ALTER TABLE ev ADD COLUMN extra numeric(8,3), ADD COLUMN tags text[];
INSERT INTO ev SELECT g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second', 'w' || g, g / 7.0, ARRAY['a', NULL]
  FROM generate_series(1001, 1100) g;`)
	next, _ := runOK(t, env, file)
	wantEqual(t, "next records_read", next.RecordsRead, 100)
	wantEqual(t, "destination column types", join(p.dst.ColumnTypes(t, "public", "ev")), "integer, timestamp with time zone, text, numeric(8,3), text[]")
	wantEqual(t, "null-cursor rows copied", p.dst.Int64(t, "SELECT count(*) FROM ev WHERE at IS NULL"), 0)
	p.src.Exec(t, "DELETE FROM ev WHERE at IS NULL")
	e2etest.RequireSameTable(t, p.src, p.dst, "ev", "ev", "r.id")
}
