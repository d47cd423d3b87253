package dest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func write(t *testing.T, conn *pgclient.Conn, req Request, in *input) (Stats, error) {
	t.Helper()
	req.Fields = in.r.fields
	return Write(context.Background(), conn, req, in)
}

// columnDigest returns md5 of a column's text over rows ordered by id.
func columnDigest(t *testing.T, conn *pgclient.Conn, table, col string) string {
	return pgtest.QueryStrings(t, conn, fmt.Sprintf(
		"SELECT md5(string_agg(coalesce(%s::text, '<NULL>'), '|' ORDER BY id)) FROM %s", pgsql.Ident(col), table))[0][0]
}

func TestWriteAllTypesCreatesTable(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, pgtest.AllTypesSQL)
	pgtest.Exec(t, dst, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
	rec := readStream(t, src, abi.StreamSpec{Name: "all_types"}, nil, 4)
	st, err := write(t, dst, Request{Schema: "raw", Stream: abi.StreamSpec{Name: "all_types", WriteMode: ModeAppend}}, &input{r: rec})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if st.Records != 6 {
		t.Errorf("records = %d", st.Records)
	}
	types := pgtest.QueryStrings(t, dst, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'raw.all_types'::regclass AND attname IN ('c_num', 'c_jsonb', 'c_uuid', 'c_mood', 'c_num_arr', 'c_point', 'c_char') ORDER BY attnum`)
	want := []string{"numeric(12,2)", "character(5)", "uuid", "jsonb", "mood", "numeric(10,3)[]", "text"}
	for i, w := range want {
		if types[i][0] != w {
			t.Errorf("created type %d = %q, want %q", i, types[i][0], w)
		}
	}
	for _, col := range append([]string{"id"}, pgtest.AllTypesColumns...) {
		if a, b := columnDigest(t, src, "public.all_types", col), columnDigest(t, dst, "raw.all_types", col); a != b {
			t.Errorf("column %q differs", col)
		}
	}
}

func TestWriteEnumMissingBecomesText(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, pgtest.AllTypesSQL)
	rec := readStream(t, src, abi.StreamSpec{Name: "all_types", Columns: []string{"id", "c_mood"}}, nil, 100)
	if _, err := write(t, dst, Request{Stream: abi.StreamSpec{Name: "all_types"}}, &input{r: rec}); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.QueryStrings(t, dst, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'all_types'::regclass AND attname = 'c_mood'")[0][0]; got != "text" {
		t.Errorf("enum column created as %q, want text", got)
	}
	if a, b := columnDigest(t, src, "all_types", "c_mood"), columnDigest(t, dst, "all_types", "c_mood"); a != b {
		t.Error("enum values differ")
	}
}

// TestWriteRetryNoLossNoDup runs every write mode through a first attempt
// whose fourth commit succeeds but whose acknowledgement is lost, then a
// second attempt that resumes from the last acknowledged checkpoint.
// TestWriteRetryNoLossNoDup: the first attempt's fourth commit lands but
// its acknowledgement is lost; the second attempt, resuming after the last
// acknowledged checkpoint, is refused with the position the destination
// holds (reported before reading); the third resumes after that position.
// No row is lost or duplicated in any write mode, and a replayed attempt
// after the run completed writes nothing.
func TestWriteRetryNoLossNoDup(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 1000) i`)
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 200}}
	for _, mode := range []string{ModeAppend, ModeReplace, ModeUpsert} {
		t.Run(mode, func(t *testing.T) {
			dst := pgtest.Connect(t, pgtest.NewDB(t))
			pgtest.Exec(t, dst, `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t VALUES (5000, 'old'), (1, 'stale')`)
			ws := spec
			ws.WriteMode, ws.Pipeline, ws.RunID, ws.PrimaryKey = mode, "p1", "run-1", []string{"id"}
			if mode == ModeAppend {
				pgtest.Exec(t, dst, "DELETE FROM t WHERE id = 1")
			}
			first := &input{r: readStream(t, src, spec, nil, 100), failCommit: 3}
			if _, err := write(t, dst, Request{Stream: ws}, first); !errors.Is(err, errAckLost) {
				t.Fatalf("first attempt: %v, want lost ack", err)
			}
			resume := first.acked[len(first.acked)-1]
			if resume.Records != 600 {
				t.Fatalf("last acked records = %d, want 600", resume.Records)
			}
			second := &input{r: readStream(t, src, spec, resume, 100)}
			_, err := write(t, dst, Request{Stream: ws, Resume: resume}, second)
			var ahead *ResumeAheadError
			if !errors.As(err, &ahead) || second.reported == nil || *second.reported.CursorValue.Int != 800 || second.i != 0 {
				t.Fatalf("second attempt: err %v, reported %+v after %d batches; want resume ahead at id 800 before reading", err, second.reported, second.i)
			}
			third := &input{r: readStream(t, src, spec, second.reported, 100)}
			st, err := write(t, dst, Request{Stream: ws, Resume: second.reported}, third)
			if err != nil || st.Records != 200 || st.Skipped != 0 {
				t.Fatalf("third attempt: wrote %d skipped %d, err %v; want 200/0", st.Records, st.Skipped, err)
			}
			got := pgtest.QueryStrings(t, dst, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t WHERE id <= 1000")[0]
			if fmt.Sprint(got) != "[1000 1000 1 1000]" {
				t.Errorf("rows = %v", got)
			}
			old := pgtest.Count(t, dst, "t WHERE id = 5000")
			if want := map[string]int{ModeAppend: 1, ModeReplace: 0, ModeUpsert: 1}[mode]; old != want {
				t.Errorf("pre-existing row count = %d, want %d", old, want)
			}
			if v := pgtest.QueryStrings(t, dst, "SELECT v FROM t WHERE id = 1")[0][0]; v != "v1" {
				t.Errorf("id 1 = %q, want v1", v)
			}
			// An attempt after the run completed the stream writes nothing.
			replay := &input{r: readStream(t, src, spec, resume, 100)}
			if st, err := write(t, dst, Request{Stream: ws, Resume: resume}, replay); err != nil || st.Records != 0 {
				t.Errorf("replayed attempt: records %d, err %v", st.Records, err)
			}
			if n := pgtest.Count(t, dst, "t WHERE id <= 1000"); n != 1000 {
				t.Errorf("after replay: %d rows", n)
			}
		})
	}
}

// TestIncrementalResumeByPositionLiveSource: an incremental append run
// commits up to a position whose acknowledgement is lost; before the next
// attempt, rows inside the committed-but-unacknowledged range are deleted
// or move later in cursor order, and new rows arrive. A count-based skip
// would drop or repeat rows here; by position, every (id, version) present
// in the source at the end is in the destination exactly once. A later run
// whose predecessor failed after committing continues from what the
// destination holds, not from the older stored cursor.
func TestIncrementalResumeByPositionLiveSource(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE t (id bigint PRIMARY KEY, ver int NOT NULL, at bigint NOT NULL);
INSERT INTO t SELECT i, 0, i FROM generate_series(1, 1000) i`)
	spec := abi.StreamSpec{Name: "t", SyncMode: "incremental", CursorField: "at", TieBreakerField: "id",
		Limits: abi.Limits{CheckpointIntervalRows: 200}}
	ws := spec
	ws.WriteMode, ws.Pipeline, ws.RunID = ModeAppend, "p", "run-1"

	first := &input{r: readStream(t, src, spec, nil, 100), failCommit: 3} // commits 800, acks 600
	if _, err := write(t, dst, Request{Stream: ws}, first); !errors.Is(err, errAckLost) {
		t.Fatalf("first attempt: %v", err)
	}
	acked := first.acked[len(first.acked)-1]
	// Inside (600, 800]: delete some, move some later; add new rows.
	pgtest.Exec(t, src, `DELETE FROM t WHERE id BETWEEN 601 AND 650;
UPDATE t SET ver = ver + 1, at = 2000 + id WHERE id BETWEEN 651 AND 700 OR id BETWEEN 901 AND 910;
INSERT INTO t SELECT i, 0, 3000 + i FROM generate_series(1001, 1100) i`)

	resume := acked
	for i := 0; ; i++ {
		in := &input{r: readStream(t, src, spec, resume, 100)}
		_, err := write(t, dst, Request{Stream: ws, Resume: resume}, in)
		var ahead *ResumeAheadError
		if errors.As(err, &ahead) && i == 0 {
			resume = in.reported
			continue
		}
		if err != nil {
			t.Fatalf("attempt %d: %v", i+2, err)
		}
		break
	}
	// The next run starts from an older stored cursor (its predecessor's
	// final acknowledgement was lost) after more changes.
	pgtest.Exec(t, src, `UPDATE t SET ver = ver + 1, at = 5000 + id WHERE id IN (5, 950, 1050)`)
	ws.RunID = "run-2"
	in := &input{r: readStream(t, src, spec, acked, 100)}
	_, err := write(t, dst, Request{Stream: ws, Resume: acked}, in)
	var ahead *ResumeAheadError
	if !errors.As(err, &ahead) || ahead.RunID != "run-1" {
		t.Fatalf("next run from an old cursor: %v, want resume ahead of run-1's position", err)
	}
	resume = in.reported
	in = &input{r: readStream(t, src, spec, resume, 100)}
	if _, err := write(t, dst, Request{Stream: ws, Resume: resume}, in); err != nil {
		t.Fatal(err)
	}
	srcConn := src
	// Append keeps superseded versions too; 1153 = 800 first-attempt rows,
	// 200 after id 800, 50 moved, 100 new, 3 changed before run-2.
	if got := pgtest.QueryStrings(t, dst, "SELECT count(*), count(DISTINCT (id, ver)) FROM t")[0]; fmt.Sprint(got) != "[1153 1153]" {
		t.Errorf("destination rows, distinct versions = %v, want [1153 1153]", got)
	}
	// Every version present in the source at the end is there exactly once.
	var ids []string
	for _, r := range pgtest.QueryStrings(t, srcConn, "SELECT id, ver FROM t ORDER BY id") {
		ids = append(ids, r[0]+":"+r[1])
	}
	var dups, absent []string
	for _, r := range pgtest.QueryStrings(t, dst, "SELECT id || ':' || ver, count(*) FROM t GROUP BY 1 HAVING count(*) > 1") {
		dups = append(dups, r[0])
	}
	have := map[string]bool{}
	for _, r := range pgtest.QueryStrings(t, dst, "SELECT id || ':' || ver FROM t") {
		have[r[0]] = true
	}
	for _, k := range ids {
		if !have[k] {
			absent = append(absent, k)
		}
	}
	if len(dups) > 0 || len(absent) > 0 {
		t.Errorf("duplicated versions %v, missing versions %v", dups, absent)
	}
}

func TestWriteUpsertDuplicatesInStream(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE e (seq int PRIMARY KEY, id int, v text); INSERT INTO e SELECT i, i % 10, 'v' || i FROM generate_series(1, 100) i`)
	rec := readStream(t, src, abi.StreamSpec{Name: "e", Columns: []string{"id", "v"}}, nil, 30)
	ws := abi.StreamSpec{Name: "e", WriteMode: ModeUpsert, PrimaryKey: []string{"id"}}
	if _, err := write(t, dst, Request{Stream: ws}, &input{r: rec}); err != nil {
		t.Fatal(err)
	}
	got := pgtest.QueryStrings(t, dst, "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM e")[0][0]
	if want := "0=v100,1=v91,2=v92,3=v93,4=v94,5=v95,6=v96,7=v97,8=v98,9=v99"; got != want {
		t.Errorf("upsert result = %s, want %s", got, want)
	}
}

func TestWriteNewColumnPolicies(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE t (id int PRIMARY KEY, "New Col" numeric(5,1)); INSERT INTO t VALUES (1, 2.5)`)
	rec := func() *input { return &input{r: readStream(t, src, abi.StreamSpec{Name: "t"}, nil, 10)} }
	for _, policy := range []string{"add", "ignore", "fail"} {
		t.Run(policy, func(t *testing.T) {
			dst := pgtest.Connect(t, pgtest.NewDB(t))
			pgtest.Exec(t, dst, "CREATE TABLE t (id int)")
			_, err := write(t, dst, Request{Stream: abi.StreamSpec{Name: "t", NewColumn: policy}}, rec())
			switch policy {
			case "fail":
				if !errors.Is(err, ErrSchema) {
					t.Fatalf("err = %v, want schema error", err)
				}
			case "add":
				if err != nil {
					t.Fatal(err)
				}
				if v := pgtest.QueryStrings(t, dst, `SELECT "New Col"::text, format_type(atttypid, atttypmod) FROM t, pg_attribute WHERE attrelid = 't'::regclass AND attname = 'New Col'`)[0]; fmt.Sprint(v) != "[2.5 numeric(5,1)]" {
					t.Errorf("added column = %v", v)
				}
			case "ignore":
				if err != nil {
					t.Fatal(err)
				}
				if n := pgtest.QueryStrings(t, dst, "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0")[0][0]; n != "1" || pgtest.Count(t, dst, "t") != 1 {
					t.Errorf("ignore: %s columns", n)
				}
			}
		})
	}
}

func TestWriteDataErrorRollsBack(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, CASE WHEN i = 50 THEN NULL ELSE 'x' END FROM generate_series(1, 100) i`)
	pgtest.Exec(t, dst, `CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)`)
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 1000}}
	_, err := write(t, dst, Request{Stream: spec}, &input{r: readStream(t, src, spec, nil, 10)})
	var pgErr *pgclient.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23502" {
		t.Fatalf("err = %v, want not_null_violation", err)
	}
	if n := pgtest.Count(t, dst, "t"); n != 0 {
		t.Errorf("%d rows left after failed write", n)
	}
}

// TestWriteConcurrentPartitions writes four partitions of one stream at
// once into a table that does not exist yet.
func TestWriteConcurrentPartitions(t *testing.T) {
	srcCfg, dstCfg := pgtest.NewDB(t), pgtest.NewDB(t)
	src := pgtest.Connect(t, srcCfg)
	pgtest.Exec(t, src, `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 2000) i`)
	const n = 4
	recs := make([]*recorded, n)
	for i := range recs {
		recs[i] = readStream(t, src, abi.StreamSpec{Name: "t", Partition: &abi.Partition{Index: uint32(i), Count: n, Key: "id"}}, nil, 100)
	}
	conns := make([]*pgclient.Conn, n)
	for i := range conns {
		conns[i] = pgtest.Connect(t, dstCfg)
	}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			spec := abi.StreamSpec{Name: "t", WriteMode: ModeAppend, Pipeline: "p", RunID: "r", Partition: &abi.Partition{Index: uint32(i), Count: n, Key: "id"}}
			_, err := Write(context.Background(), conns[i], Request{Schema: "fresh", Stream: spec, Fields: recs[i].fields}, &input{r: recs[i]})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("partition write: %v", err)
		}
	}
	check := pgtest.Connect(t, dstCfg)
	if got := pgtest.QueryStrings(t, check, "SELECT count(*), count(DISTINCT id) FROM fresh.t")[0]; fmt.Sprint(got) != "[2000 2000]" {
		t.Errorf("rows = %v", got)
	}
	if n := pgtest.Count(t, check, `fresh."_rapidbyte_watermarks"`); n != 4 {
		t.Errorf("watermark rows = %d, want 4", n)
	}
}

// TestStaleStagingDroppedByNextRun: a replace run that fails for good
// leaves its staging table, listed with its owner; the pipeline's next run
// drops it, and leaves another pipeline's staging table alone.
func TestStaleStagingDroppedByNextRun(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 500) i`)
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 200}}
	replace := func(pipeline, run string, failCommit int) (Stats, error) {
		ws := spec
		ws.WriteMode, ws.Pipeline, ws.RunID = ModeReplace, pipeline, run
		return write(t, dst, Request{Stream: ws}, &input{r: readStream(t, src, spec, nil, 100), failCommit: failCommit})
	}
	if _, err := replace("p1", "run-1", 1); !errors.Is(err, errAckLost) {
		t.Fatalf("failing run: %v", err)
	}
	if _, err := replace("p2", "run-9", 1); !errors.Is(err, errAckLost) {
		t.Fatalf("other pipeline's failing run: %v", err)
	}
	ctx := context.Background()
	left, err := StagingTables(ctx, dst, "public")
	if err != nil || len(left) != 2 {
		t.Fatalf("staging tables = %v, %v; want the two failed runs'", left, err)
	}
	if left[0].RunID == "" || left[1].RunID == "" || !strings.Contains(left[0].String()+left[1].String(), "pipeline p1, stream t, run run-1") {
		t.Errorf("owners = %v", left)
	}
	st, err := replace("p1", "run-2", 0)
	if err != nil || len(st.DroppedStaging) != 1 {
		t.Fatalf("next run: dropped %v, err %v; want run-1's staging table", st.DroppedStaging, err)
	}
	left, err = StagingTables(ctx, dst, "public")
	if err != nil || len(left) != 1 || left[0].Pipeline != "p2" {
		t.Errorf("staging tables after the next run = %v, %v; want only p2's", left, err)
	}
	if n := pgtest.Count(t, dst, "t"); n != 500 {
		t.Errorf("target rows = %d, want 500", n)
	}
}
