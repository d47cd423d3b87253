package pipelines

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// badRows fills the source table "items" with 1000 rows of which four
// break the pre-created destination table: id 101 a too-long varchar, 202
// a CHECK violation, 303 a NOT NULL violation, 404 a numeric overflow.
func badRows(t *testing.T, p pair) {
	p.src.Exec(t, `CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, amount numeric, note text);
INSERT INTO items SELECT i, CASE WHEN i = 101 THEN 'far too long' ELSE 'n' || i % 1000 END, CASE WHEN i = 202 THEN -1 ELSE i END,
  CASE WHEN i = 404 THEN 12345.67 ELSE i / 100.0 END, CASE WHEN i = 303 THEN NULL ELSE 'ok' END FROM generate_series(1, 1000) i`)
	p.dst.Exec(t, `CREATE SCHEMA raw; CREATE TABLE raw.items (id bigint PRIMARY KEY, name varchar(5),
  qty int CONSTRAINT qty_positive CHECK (qty >= 0), amount numeric(5,2), note text NOT NULL)`)
}

// TestOnDataError runs one pipeline per on_data_error policy into
// pre-created tables that reject four rows.
func TestOnDataError(t *testing.T) {
	p := newPair(t, "dataerr")
	badRows(t, p)
	env := e2etest.NewEmbeddedEnv(t)
	pl := func(name string, policies map[string]any) e2etest.Pipeline {
		x := p.pipeline(name, "raw", "append", e2etest.Stream{Name: "items"})
		x.DestinationPolicies = policies
		x.Resources = map[string]any{"max_batch_rows": 100, "checkpoint_interval_rows": 250}
		return x
	}

	t.Run("fail", func(t *testing.T) {
		res := e2etest.RunCLI(t, env, "run", "-o", "json", pl("e2e_dataerr_fail", nil).Write(t))
		res.RequireExit(t, 1)
		rr := res.MustRunJSON(t)
		if rr.Error == nil {
			t.Fatalf("no error\n%s", res)
		}
		wantEqual(t, "category", rr.Error.Category, "data")
		wantEqual(t, "attempts", rr.Attempts, 1)
		for _, s := range []string{`stream "items"`, "key id=101", `column "name"`, "22001"} {
			contains(t, "error", rr.Error.Message, s)
		}
		// The first commit would be at the batch ending row 300.
		wantEqual(t, "rows committed", p.dst.Count(t, "raw.items"), 0)
	})

	t.Run("skip", func(t *testing.T) {
		p.dst.Exec(t, "TRUNCATE raw.items")
		rr, _ := runOK(t, env, pl("e2e_dataerr_skip", map[string]any{"on_data_error": "skip"}).Write(t))
		wantEqual(t, "records_written", rr.RecordsWritten, 996)
		wantEqual(t, "records_failed", rr.RecordsFailed, 4)
		wantEqual(t, "stream records_failed", rr.Stream("items").RecordsFailed, 4)
		wantEqual(t, "rows", p.dst.Count(t, "raw.items"), 996)
		p.dst.Exec(t, "TRUNCATE raw.items")
		text := e2etest.RunCLI(t, env, "run", pl("e2e_dataerr_skip2", map[string]any{"on_data_error": "skip"}).Write(t))
		text.RequireExit(t, 0)
		contains(t, "text summary", text.Stdout, "Records failed:  4")
		contains(t, "text summary", text.Stdout, "items  1,000 read, 996 written")
		contains(t, "text summary", text.Stdout, `"records_failed":4`)
	})

	t.Run("dlq", func(t *testing.T) {
		p.dst.Exec(t, "TRUNCATE raw.items")
		rr, _ := runOK(t, env, pl("e2e_dataerr_dlq", map[string]any{"on_data_error": "dlq"}).Write(t))
		wantEqual(t, "records_failed", rr.RecordsFailed, 4)
		got := p.dst.Strings(t, `SELECT record->>'id' || ':' || sqlstate FROM raw."_rapidbyte_dlq" WHERE run_id = $1 AND pipeline = 'e2e_dataerr_dlq' ORDER BY id`, rr.RunID)
		wantEqual(t, "dead letters", join(got), "101:22001, 202:23514, 303:23502, 404:22003")
		wantEqual(t, "rows", p.dst.Count(t, "raw.items"), 996)
	})

	t.Run("max_failed_records", func(t *testing.T) {
		p.dst.Exec(t, "TRUNCATE raw.items")
		res := e2etest.RunCLI(t, env, "run", "-o", "json", pl("e2e_dataerr_max", map[string]any{"on_data_error": "skip", "max_failed_records": 2}).Write(t))
		res.RequireExit(t, 1)
		rr := res.MustRunJSON(t)
		if rr.Error == nil {
			t.Fatalf("no error\n%s", res)
		}
		wantEqual(t, "category", rr.Error.Category, "data")
		contains(t, "error", rr.Error.Message, "max_failed_records = 2")
		// The commit after the batch ending row 300 holds ids 101 and 202 as
		// rejected; id 303, the third, stops the run before the next commit.
		wantEqual(t, "rows committed", p.dst.Count(t, "raw.items"), 298)
	})
}
