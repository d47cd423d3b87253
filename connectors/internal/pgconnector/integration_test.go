package pgconnector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// TestCopyAllTypesBetweenDatabases copies a table holding every supported
// type (NULLs and edge values included) from one database to another
// through the SDK batch buffers and frames, then proves equality column by
// column with SQL on both sides.
func TestCopyAllTypesBetweenDatabases(t *testing.T) {
	srcCfg, dstCfg := pgtest.NewDB(t), pgtest.NewDB(t)
	src, dst := pgtest.Connect(t, srcCfg), pgtest.Connect(t, dstCfg)
	pgtest.Exec(t, src, pgtest.AllTypesSQL)
	pgtest.Exec(t, dst, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")

	f, err := readAll(t, config(t, srcCfg, map[string]any{"schema": "public"}), abi.StreamSpec{Name: "all_types"}, nil, 4, true)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if f.rows != 6 || len(f.frames) != 2 {
		t.Fatalf("read %d rows in %d frames, want 6 in 2", f.rows, len(f.frames))
	}
	spec := abi.StreamSpec{Name: "all_types", WriteMode: abi.WriteAppend, Pipeline: "it", RunID: "r1"}
	it, err := writeAll(t, config(t, dstCfg, map[string]any{"schema": "copy"}), spec, f)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if last := it.acked[len(it.acked)-1]; last == nil || last.Records != 6 {
		t.Errorf("last acknowledged checkpoint = %+v", last)
	}
	for _, col := range append([]string{"id"}, pgtest.AllTypesColumns...) {
		q := fmt.Sprintf("SELECT md5(string_agg(coalesce(%s::text, '<NULL>'), '|' ORDER BY id)), count(%[1]s) FROM %%s", pgsql.Ident(col))
		a := pgtest.QueryStrings(t, src, fmt.Sprintf(q, "public.all_types"))[0]
		b := pgtest.QueryStrings(t, dst, fmt.Sprintf(q, "copy.all_types"))[0]
		if a[0] != b[0] || a[1] != b[1] {
			t.Errorf("column %q: source md5 %s (%s non-null), destination md5 %s (%s non-null)", col, a[0], a[1], b[0], b[1])
		}
	}
	// Same source types on the destination side.
	q := `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
	      WHERE attrelid = '%s'::regclass AND attnum > 0 AND attname <> 'c_point'`
	if a, b := pgtest.QueryStrings(t, src, fmt.Sprintf(q, "public.all_types"))[0][0], pgtest.QueryStrings(t, dst, fmt.Sprintf(q, "copy.all_types"))[0][0]; a != b {
		t.Errorf("column types differ:\nsource %s\ndest   %s", a, b)
	}
}

func TestErrorsAreClassifiedAndSanitized(t *testing.T) {
	cfg := pgtest.NewDB(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		extra    map[string]any
		category string
	}{
		{"unknown database", map[string]any{"database": "rb_pg_no_such_db"}, abi.CategoryConfig},
		{"unknown role", map[string]any{"user": "rb_pg_no_such_role", "password": "s3cr3t-Pa55"}, abi.CategoryAuth},
		{"connection refused", map[string]any{"port": 1}, abi.CategoryTransientNetwork},
		{"bad sslmode", map[string]any{"sslmode": "prefer"}, abi.CategoryConfig},
		{"bad full_refresh_order", map[string]any{"full_refresh_order": "random"}, abi.CategoryConfig},
		{"unknown field", map[string]any{"hostname": "x"}, abi.CategoryConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := NewSource().Open(ctx, config(t, cfg, tc.extra))
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *sdk.Error", err)
			}
			if e.Envelope.Category != tc.category {
				t.Errorf("category = %s (%v), want %s", e.Envelope.Category, err, tc.category)
			}
			if e.Envelope.Retryable != (tc.category == abi.CategoryTransientNetwork) {
				t.Errorf("retryable = %v", e.Envelope.Retryable)
			}
			if strings.Contains(e.Envelope.Message, "s3cr3t") {
				t.Errorf("message leaks the password: %s", e.Envelope.Message)
			}
		})
	}
	// Read of a missing table: config, not retried.
	_, err := readAll(t, config(t, cfg, nil), abi.StreamSpec{Name: "missing"}, nil, 10, false)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryConfig || e.Envelope.Retryable {
		t.Errorf("missing table: %v", err)
	}
}

// TestRetryAfterLostAck: the first attempt's fourth commit lands but its
// acknowledgement is lost; the second attempt, resuming after the last
// acknowledged checkpoint, reports the position the destination holds and
// fails with resume_ahead (retryable, before commit); the third resumes
// after that position. No row is lost or duplicated in any write mode.
func TestRetryAfterLostAck(t *testing.T) {
	srcCfg := pgtest.NewDB(t)
	src := pgtest.Connect(t, srcCfg)
	pgtest.Exec(t, src, `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 1000) i`)
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 200}}
	for _, mode := range []string{abi.WriteAppend, abi.WriteReplace, abi.WriteUpsert} {
		t.Run(mode, func(t *testing.T) {
			dstCfg := pgtest.NewDB(t)
			dst := pgtest.Connect(t, dstCfg)
			ws := spec
			ws.WriteMode, ws.Pipeline, ws.RunID, ws.PrimaryKey = mode, "p", "run-7", []string{"id"}
			f1, err := readAll(t, config(t, srcCfg, nil), spec, nil, 100, true)
			if err != nil {
				t.Fatal(err)
			}
			it1, err := writeIter(t, config(t, dstCfg, nil), ws, &iterator{f: f1, failCommit: 3})
			if !errors.Is(err, errAckLost) {
				t.Fatalf("first attempt: %v", err)
			}
			resume := it1.acked[len(it1.acked)-1]
			f2, err := readAll(t, config(t, srcCfg, nil), spec, resume, 100, true)
			if err != nil {
				t.Fatal(err)
			}
			it2, err := writeIter(t, config(t, dstCfg, nil), ws, &iterator{f: f2, resume: resume})
			var e *sdk.Error
			if !errors.As(err, &e) || e.Envelope.Code != abi.CodeResumeAhead || !e.Envelope.Retryable || !e.Envelope.SafeToRetry || it2.reported == nil {
				t.Fatalf("second attempt: %v (reported %+v), want retryable resume_ahead", err, it2.reported)
			}
			f3, err := readAll(t, config(t, srcCfg, nil), spec, it2.reported, 100, true)
			if err != nil {
				t.Fatal(err)
			}
			if f3.rows != 200 {
				t.Fatalf("resumed read: %d rows, want 200", f3.rows)
			}
			if _, err := writeIter(t, config(t, dstCfg, nil), ws, &iterator{f: f3, resume: it2.reported}); err != nil {
				t.Fatalf("third attempt: %v", err)
			}
			got := pgtest.QueryStrings(t, dst, "SELECT count(*), count(DISTINCT id), sum(id) FROM t")[0]
			if fmt.Sprint(got) != "[1000 1000 500500]" {
				t.Errorf("destination rows = %v, want [1000 1000 500500]", got)
			}
		})
	}
}

func TestCheckAndDiscover(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, `CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Orders" (id int PRIMARY KEY, at timestamptz)`)
	ctx := context.Background()

	src := NewSource()
	if err := src.Open(ctx, config(t, cfg, map[string]any{"schema": "Sales"})); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if err := src.Check(ctx); err != nil {
		t.Errorf("check: %v", err)
	}
	cat, err := src.Discover(ctx)
	if err != nil || len(cat.Streams) != 1 || cat.Streams[0].Name != "Orders" || cat.Streams[0].Namespace != "Sales" {
		t.Fatalf("discover = %+v, %v", cat, err)
	}
	if got := cat.Streams[0].CursorCandidates; fmt.Sprint(got) != "[id at]" {
		t.Errorf("cursor candidates = %v", got)
	}

	missing := NewSource()
	if err := missing.Open(ctx, config(t, cfg, map[string]any{"schema": "nope"})); err != nil {
		t.Fatal(err)
	}
	defer missing.Close(ctx)
	var e *sdk.Error
	if err := missing.Check(ctx); !errors.As(err, &e) || e.Envelope.Category != abi.CategoryConfig {
		t.Errorf("check of a missing schema = %v, want config error", err)
	}

	d := NewDestination()
	if err := d.Open(ctx, config(t, cfg, map[string]any{"schema": "new schema", "copy_flush_bytes": 1024})); err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if err := d.Check(ctx); err != nil {
		t.Errorf("destination check: %v", err)
	}
	if n := pgtest.QueryStrings(t, conn, `SELECT count(*) FROM pg_namespace WHERE nspname = 'new schema'`)[0][0]; n != "0" {
		t.Errorf("check left the probe schema behind")
	}
	if d.CheckNote() != "" {
		t.Errorf("check note without staging tables = %q", d.CheckNote())
	}

	// Staging tables left by failed replace runs are listed with their owner.
	pgtest.Exec(t, conn, `CREATE TABLE "Sales"._rb_stage_0123 (x int); COMMENT ON TABLE "Sales"._rb_stage_0123 IS '{"pipeline":"p","stream":"Orders","run_id":"r-1"}'`)
	ds := NewDestination()
	if err := ds.Open(ctx, config(t, cfg, map[string]any{"schema": "Sales"})); err != nil {
		t.Fatal(err)
	}
	defer ds.Close(ctx)
	if err := ds.Check(ctx); err != nil || !strings.Contains(ds.CheckNote(), "_rb_stage_0123 (pipeline p, stream Orders, run r-1)") {
		t.Errorf("destination check = %v, note %q; want the staging table listed", err, ds.CheckNote())
	}
}

// TestPipelinedRejectNamesARowOfAnEarlierBatch: the server rejects a row
// after the writer sent every later batch into the same COPY (a trigger
// sleeps on it first), so the row is named from the writer's copy of its
// batch: the iterator's view of that batch shows another batch by then.
func TestPipelinedRejectNamesARowOfAnEarlierBatch(t *testing.T) {
	srcCfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, srcCfg), `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) i`)
	dstCfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, dstCfg), `CREATE TABLE t (id bigint PRIMARY KEY, v text);
		CREATE FUNCTION late_reject() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = 5 THEN
				PERFORM pg_sleep(0.5);
				RAISE check_violation USING MESSAGE = 'row 5 refused late';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER late BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION late_reject()`)
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 1000}}
	f, err := readAll(t, config(t, srcCfg, nil), spec, nil, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.frames) != 10 {
		t.Fatalf("%d frames, want 10", len(f.frames))
	}
	_, err = writeAll(t, config(t, dstCfg, nil), spec, f)
	if err == nil || !strings.Contains(err.Error(), "row 5 of the stream (key id=5)") || !strings.Contains(err.Error(), "23514") {
		t.Fatalf("err = %v, want row 5 named with key id=5", err)
	}
}

// TestWriteUsesOneCopyPerTransaction: under on_data_error fail the
// batches of a transaction share one COPY statement (each statement costs
// the server a ring of shared buffers of its own).
func TestWriteUsesOneCopyPerTransaction(t *testing.T) {
	srcCfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, srcCfg), `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) i`)
	dstCfg := pgtest.NewDB(t)
	dst := pgtest.Connect(t, dstCfg)
	pgtest.Exec(t, dst, `CREATE TABLE t (id bigint PRIMARY KEY, v text); CREATE TABLE statements (n int);
		CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO statements VALUES (1); RETURN NULL; END $$;
		CREATE TRIGGER per_statement AFTER INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION count_statement()`)
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 40}}
	f, err := readAll(t, config(t, srcCfg, nil), spec, nil, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeAll(t, config(t, dstCfg, nil), spec, f); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, dst, "t"); n != 100 {
		t.Fatalf("%d rows, want 100", n)
	}
	// Checkpoints after 40 and 80 rows: three transactions with rows.
	if n := pgtest.Count(t, dst, "statements"); n != 3 {
		t.Errorf("%d COPY statements for 10 batches in 3 transactions, want 3", n)
	}
}

// TestPipelinedRejectNamesItsBatchAcrossAnEmptyBatch: a row of a batch
// that an empty batch and then another follow into the same COPY (the
// iterator reuses the first batch's buffer for the third) is named with
// its own key, from the writer's copy of its batch.
func TestPipelinedRejectNamesItsBatchAcrossAnEmptyBatch(t *testing.T) {
	srcCfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, srcCfg), `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 30) i`)
	dstCfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, dstCfg), `CREATE TABLE t (id bigint PRIMARY KEY, v text CHECK (v <> 'v5'))`)
	spec := abi.StreamSpec{Name: "t"}
	f, err := readAll(t, config(t, srcCfg, nil), spec, nil, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.frames) != 3 {
		t.Fatalf("%d frames, want 3", len(f.frames))
	}
	b, err := batch.NewBuilder(f.schema, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var empty []byte
	if err := b.Layout(func(rows int, nodes []batch.Node, bufs [][]byte) {
		empty = batch.EncodeFrame(nil, rows, nodes, bufs, nil)
	}); err != nil {
		t.Fatal(err)
	}
	f.frames = [][]byte{f.frames[0], empty, f.frames[1], f.frames[2]}
	f.cps = []*abi.Checkpoint{nil, nil, nil, f.cps[2]}
	_, err = writeAll(t, config(t, dstCfg, nil), spec, f)
	if err == nil || !strings.Contains(err.Error(), "key id=5") || !strings.Contains(err.Error(), "row 5 of the stream") {
		t.Fatalf("err = %v, want row 5 named with key id=5", err)
	}
}
