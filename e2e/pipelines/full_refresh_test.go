package pipelines

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// fullRefreshSeed creates three tables of different shapes in db: users
// (int primary key), orders (bigint key, numeric, NULLs), events (no
// primary key: read in physical order) and returns their row counts.
func fullRefreshSeed(t *testing.T, db *e2etest.DB) map[string]int64 {
	t.Helper()
	db.Exec(t, `
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, score double precision, created_at timestamptz NOT NULL);
INSERT INTO users SELECT g, 'user' || g || '@example.com', CASE WHEN g % 7 = 0 THEN NULL ELSE g / 3.0 END,
  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 20000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id int, amount numeric(12,2), note varchar(40), paid boolean);
INSERT INTO orders SELECT g, g % 20000 + 1, (g * 1.37)::numeric(12,2), CASE WHEN g % 5 = 0 THEN NULL ELSE 'order ' || g END, g % 2 = 0
  FROM generate_series(1, 30000) g;
CREATE TABLE events (kind text, payload jsonb, at timestamp);
INSERT INTO events SELECT CASE g % 3 WHEN 0 THEN 'click' WHEN 1 THEN 'view' ELSE 'buy' END,
  jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 10)), timestamp '2024-06-01' + g * interval '1 second'
  FROM generate_series(1, 15000) g;
INSERT INTO events SELECT 'dup', '{"same": true}', timestamp '2024-01-01' FROM generate_series(1, 50);`)
	return map[string]int64{"users": 20000, "orders": 30000, "events": 15050}
}

// TestFullRefreshMultiTable copies three tables with full_refresh/append
// (one split into three key-range partitions) and requires exact counts and checksums, the run summary's totals, and the
// destination column types.
func TestFullRefreshMultiTable(t *testing.T) {
	p := newPair(t, "full")
	counts := fullRefreshSeed(t, p.src)
	pl := p.pipeline("e2e_full", "raw", "append",
		e2etest.Stream{Name: "users"}, e2etest.Stream{Name: "orders", PartitionKey: "id", Partitions: 3}, e2etest.Stream{Name: "events"})
	rr, _ := runOK(t, e2etest.NewEmbeddedEnv(t), pl.Write(t))
	wantEqual(t, "stream results (orders in 3 partitions)", len(rr.Streams), 5)

	var total int64
	for table, n := range counts {
		total += n
		wantEqual(t, "destination count of "+table, p.dst.Count(t, e2etest.Ident("raw", table)), n)
		e2etest.RequireSameTable(t, p.src, p.dst, e2etest.Ident("public", table), e2etest.Ident("raw", table), "")
		var read, written uint64
		for _, s := range rr.Streams {
			if s.Stream == table {
				read, written = read+s.RecordsRead, written+s.RecordsWritten
				wantEqual(t, table+" state", s.State, "SUCCEEDED")
			}
		}
		wantEqual(t, table+" records_read", int64(read), n)
		wantEqual(t, table+" records_written", int64(written), n)
		wantEqual(t, "column types of "+table, join(p.dst.ColumnTypes(t, "raw", table)), join(p.src.ColumnTypes(t, "public", table)))
	}
	wantEqual(t, "records_read", int64(rr.RecordsRead), total)
	wantEqual(t, "records_written", int64(rr.RecordsWritten), total)
	wantEqual(t, "retry_count", rr.RetryCount, 0)
	wantEqual(t, "attempts", rr.Attempts, 1)
	for _, ae := range rr.AttemptErrors {
		t.Errorf("attempt %d failed: %+v", ae.Attempt, ae.Error)
	}
}
