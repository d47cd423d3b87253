package dest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// badRowsSource holds 100 rows of which four break the destination table
// of badRowsTarget: id 13 a too-long varchar, 27 a CHECK violation, 55 a
// NOT NULL violation, 81 a numeric overflow.
const badRowsSource = `CREATE TABLE t (id bigint PRIMARY KEY, name text, qty int, amount numeric(10,2), note text);
INSERT INTO t SELECT i, CASE WHEN i = 13 THEN 'far too long' ELSE 'n' || i END, CASE WHEN i = 27 THEN -1 ELSE i END,
  CASE WHEN i = 81 THEN 12345.67 ELSE i / 10.0 END, CASE WHEN i = 55 THEN NULL ELSE 'ok' END FROM generate_series(1, 100) i`

const badRowsTarget = `CREATE TABLE t (id bigint PRIMARY KEY, name varchar(5), qty int CONSTRAINT qty_positive CHECK (qty >= 0),
  amount numeric(5,2), note text NOT NULL)`

var badIDs = map[string]string{"13": "22001", "27": "23514", "55": "23502", "81": "22003"}

func badRowsInput(t *testing.T, src *pgclient.Conn, resume *abi.Checkpoint) *input {
	return &input{r: readStream(t, src, abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 20}}, resume, 10)}
}

func TestWriteOnDataErrorFail(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, badRowsSource)
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, dst, badRowsTarget)
	_, err := write(t, dst, Request{Stream: abi.StreamSpec{Name: "t", OnDataError: OnErrorFail}}, badRowsInput(t, src, nil))
	var pgErr *pgclient.PgError
	if !errors.Is(err, ErrData) || !errors.As(err, &pgErr) || pgErr.Code != "22001" {
		t.Fatalf("err = %v, want a data error 22001", err)
	}
	for _, want := range []string{`stream "t"`, "row 13 of the stream", "key id=13", `column "name"`, "22001", "nothing of the batch was committed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The batch of rows 11-20 is not committed; rows 1-10 were (checkpoint
	// every 20 rows, so they share the failed transaction: none is).
	if n := pgtest.Count(t, dst, "t"); n != 0 {
		t.Errorf("%d rows committed, want 0", n)
	}
}

func TestWriteOnDataErrorFailNamesEachConstraint(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, badRowsSource+"; UPDATE t SET name = 'ok' WHERE id = 13")
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, dst, badRowsTarget)
	_, err := write(t, dst, Request{Stream: abi.StreamSpec{Name: "t"}}, badRowsInput(t, src, nil))
	if err == nil || !strings.Contains(err.Error(), `constraint "qty_positive"`) || !strings.Contains(err.Error(), "key id=27") {
		t.Fatalf("err = %v, want the CHECK constraint and key id=27", err)
	}
}

func TestWriteOnDataErrorSkip(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, badRowsSource)
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, dst, badRowsTarget)
	st, err := write(t, dst, Request{Stream: abi.StreamSpec{Name: "t", OnDataError: OnErrorSkip}}, badRowsInput(t, src, nil))
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 96 || st.Failed != 4 {
		t.Errorf("records %d failed %d, want 96 and 4", st.Records, st.Failed)
	}
	got := pgtest.QueryStrings(t, dst, "SELECT count(*), string_agg(id::text, ',' ORDER BY id) FILTER (WHERE id IN (12, 13, 14, 27, 55, 81)) FROM t")[0]
	if fmt.Sprint(got) != "[96 12,14]" {
		t.Errorf("rows = %v", got)
	}
}

func TestWriteOnDataErrorDLQ(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, badRowsSource)
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, dst, badRowsTarget)
	spec := abi.StreamSpec{Name: "t", OnDataError: OnErrorDLQ, Pipeline: "p", RunID: "r1"}
	st, err := write(t, dst, Request{Stream: spec}, badRowsInput(t, src, nil))
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 96 || st.Failed != 4 {
		t.Errorf("records %d failed %d, want 96 and 4", st.Records, st.Failed)
	}
	checkDLQ(t, dst)
}

func checkDLQ(t *testing.T, dst *pgclient.Conn) {
	t.Helper()
	rows := pgtest.QueryStrings(t, dst, `SELECT record->>'id', sqlstate, run_id, pipeline, stream, error, record->>'name' FROM "_rapidbyte_dlq" ORDER BY id`)
	if len(rows) != len(badIDs) {
		t.Fatalf("dead letters = %v, want %d", rows, len(badIDs))
	}
	for _, r := range rows {
		if badIDs[r[0]] != r[1] || r[2] != "r1" || r[3] != "p" || r[4] != "t" || r[5] == "" {
			t.Errorf("dead letter %v", r)
		}
		if r[0] == "13" && r[6] != "far too long" {
			t.Errorf("dead letter record name = %q", r[6])
		}
	}
}

func TestWriteMaxFailedRecords(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, badRowsSource)
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, dst, badRowsTarget)
	spec := abi.StreamSpec{Name: "t", OnDataError: OnErrorSkip, MaxFailedRecords: 2}
	_, err := write(t, dst, Request{Stream: spec}, badRowsInput(t, src, nil))
	if !errors.Is(err, ErrTooManyFailed) || !strings.Contains(err.Error(), "max_failed_records = 2") {
		t.Fatalf("err = %v, want too many failed", err)
	}
	// Rows 1-40 committed (two checkpoints, two rejections); the third
	// rejection (id 55) stops the run before its batch commits.
	if n := pgtest.Count(t, dst, "t"); n != 38 {
		t.Errorf("%d rows committed, want 38", n)
	}
}

// TestWriteDLQRetryExactlyOnce loses the acknowledgement of a commit that
// carried dead letters; the retry must neither dead-letter those rows again
// nor lose or duplicate good rows.
func TestWriteDLQRetryExactlyOnce(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, badRowsSource)
	for _, mode := range []string{ModeAppend, ModeUpsert} {
		t.Run(mode, func(t *testing.T) {
			dst := pgtest.Connect(t, pgtest.NewDB(t))
			pgtest.Exec(t, dst, badRowsTarget)
			spec := abi.StreamSpec{Name: "t", OnDataError: OnErrorDLQ, Pipeline: "p", RunID: "r1", WriteMode: mode, PrimaryKey: []string{"id"}}
			first := badRowsInput(t, src, nil)
			first.failCommit = 2 // rows 41-60 commit (with id 55's dead letter), their ack is lost
			if _, err := write(t, dst, Request{Stream: spec}, first); !errors.Is(err, errAckLost) {
				t.Fatalf("first attempt: %v", err)
			}
			// The retry resumes after the last acknowledged checkpoint (id 40):
			// the destination reports that it holds rows up to id 60 instead
			// of writing, and the coordinator resumes the source after that.
			acked := first.acked[len(first.acked)-1]
			_, err := write(t, dst, Request{Stream: spec, Resume: acked}, badRowsInput(t, src, acked))
			var ahead *ResumeAheadError
			if !errors.As(err, &ahead) {
				t.Fatalf("retry from the acknowledged checkpoint: err = %v, want ResumeAheadError", err)
			}
			resume := &ahead.Committed
			st, err := write(t, dst, Request{Stream: spec, Resume: resume}, badRowsInput(t, src, resume))
			if err != nil {
				t.Fatal(err)
			}
			if st.Failed != 1 {
				t.Errorf("retry failed %d, want 1 (id 81)", st.Failed)
			}
			if got := pgtest.QueryStrings(t, dst, "SELECT count(*), count(DISTINCT id) FROM t")[0]; fmt.Sprint(got) != "[96 96]" {
				t.Errorf("rows = %v", got)
			}
			checkDLQ(t, dst)
		})
	}
}
