package dest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// sized is a Held of a given size.
type sized int

func (s sized) Batch() (Batch, error) { return nil, nil }
func (s sized) Size() int             { return int(s) }

func TestOpenCopyHoldsAtMostHoldBytes(t *testing.T) {
	w := &writer{open: &openCopy{cur: -1}, holdLimit: holdBytes}
	part := func(h Held) copyPart { return copyPart{lo: 0, hi: 10, held: h} }
	w.addPart(part(sized(holdBytes / 2)))
	w.addPart(part(nil)) // a batch without a copy
	w.addPart(part(sized(holdBytes / 4)))
	if w.open.held != holdBytes*3/4 || w.open.parts[0].held == nil {
		t.Fatalf("held %d bytes, first copy kept %v; want all within the bound kept", w.open.held, w.open.parts[0].held != nil)
	}
	w.addPart(part(sized(holdBytes / 2))) // over the bound: the oldest copy goes
	if w.open.held != holdBytes*3/4 || w.open.parts[0].held != nil || w.open.parts[2].held == nil {
		t.Fatalf("held %d bytes; want the oldest copy dropped and the rest kept", w.open.held)
	}
	w.addPart(part(sized(2 * holdBytes))) // larger than the bound alone (Hold refuses such a batch): the rest go
	if w.open.held != 2*holdBytes || w.open.parts[2].held != nil || w.open.parts[3].held != nil || w.open.parts[4].held == nil {
		t.Fatalf("held %d bytes; want only the newest copy kept", w.open.held)
	}
	// Dropped copies are kept for reuse within the bound too: the half
	// and the quarter, not the second half.
	if len(w.spareHeld) != 2 || w.spareBytes != holdBytes*3/4 {
		t.Errorf("%d dropped copies (%d bytes) kept for reuse, want 2 (%d)", len(w.spareHeld), w.spareBytes, holdBytes*3/4)
	}
	if h := w.takeSpare(); h == nil || w.spareBytes != holdBytes/2 {
		t.Errorf("takeSpare = %v leaves %d spare bytes, want %d", h, w.spareBytes, holdBytes/2)
	}
	if w.open.lines != 50 {
		t.Errorf("lines = %d, want 50", w.open.lines)
	}
	if p, row := w.open.find(&pgclient.PgError{Code: "22001", Where: "COPY t, line 23, column v"}); p != 2 || row != 2 {
		t.Errorf("line 23 found in part %d row %d, want part 2 row 2", p, row)
	}
	if p, _ := w.open.find(&pgclient.PgError{Code: "22001", Where: "COPY t, line 51"}); p != -1 {
		t.Errorf("line 51 of 50 found in part %d", p)
	}
	if !strings.Contains(w.open.parts[0].unheld, "after more than 32 MiB of later rows") {
		t.Errorf("a dropped copy's part says %q", w.open.parts[0].unheld)
	}
}

func TestRowFailureWithoutTheBatchSaysWhy(t *testing.T) {
	w := &writer{raw: &rawTable{}, keyCols: []string{"id"}, req: Request{Stream: abi.StreamSpec{Name: "t"}}, schema: "public", target: "t", batchStart: 100}
	err := w.failRow(context.Background(), 4, "its batch was dropped", &pgclient.PgError{Code: "23514", Message: "refused"})
	if !strings.Contains(err.Error(), "row 105 of the stream (its key is not named: its batch was dropped)") {
		t.Errorf("err = %v", err)
	}
}

// slowInput is an input whose batches arrive apart.
type slowInput struct {
	*input
	gap time.Duration
}

func (s slowInput) Next(ctx context.Context) (Batch, error) {
	time.Sleep(s.gap)
	return s.input.Next(ctx)
}

// TestOpenCopyOutlivesStatementTimeout: the one COPY of a transaction lasts
// as long as its input, longer than a statement_timeout set on the
// database, which the writer's transaction turns off.
func TestOpenCopyOutlivesStatementTimeout(t *testing.T) {
	src := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, `CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 50) i`)
	dstCfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, dstCfg), fmt.Sprintf(`ALTER DATABASE %s SET statement_timeout = '150ms'`, pgsql.Ident(dstCfg.Database)))
	dst := pgtest.Connect(t, dstCfg) // a session under the timeout
	in := &input{r: readStream(t, src, abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 1000}}, nil, 10)}
	st, err := Write(context.Background(), dst, Request{Stream: abi.StreamSpec{Name: "t"}, Fields: in.r.fields}, slowInput{in, 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("write of 5 batches 100 ms apart under a 150 ms statement_timeout: %v", err)
	}
	if st.Records != 50 || pgtest.Count(t, dst, "t") != 50 {
		t.Errorf("%d records written, want 50", st.Records)
	}
}
