package dest

import (
	"context"
	"io"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"

	"github.com/rapidbyte/rapidbyte/connectors/internal/cdc"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// change is one envelope row of a test change stream.
type change struct {
	op   string
	lsn  int64
	vals []string // nil for a schema row
	ts   *cdc.TableSchema
}

// changeBatch is one batch and the checkpoint (an LSN, 0 for none) it carries.
type changeBatch struct {
	rows []change
	cp   int64
}

// changeFeed is a ChangeInput over batches built in memory.
type changeFeed struct {
	t       *testing.T
	batches []changeBatch
	schema  *batch.Schema
	view    *batch.View
	cp      *abi.Checkpoint
}

func newChangeFeed(t *testing.T, batches ...changeBatch) *changeFeed {
	s, err := batch.NewSchema(cdc.Fields)
	if err != nil {
		t.Fatal(err)
	}
	return &changeFeed{t: t, batches: batches, schema: s, view: batch.NewView(s)}
}

func (f *changeFeed) Next(context.Context) (*batch.View, error) {
	if len(f.batches) == 0 {
		return nil, io.EOF
	}
	cb := f.batches[0]
	f.batches = f.batches[1:]
	b, err := batch.NewBuilder(f.schema, 100, 1<<20)
	if err != nil {
		return nil, err
	}
	for _, c := range cb.rows {
		b.Utf8(cdc.ColTable).AppendString("public.item")
		b.Utf8(cdc.ColOp).AppendString(c.op)
		b.Int64(cdc.ColLSN).Append(c.lsn)
		if c.ts != nil {
			p, err := cdc.EncodeSchema(*c.ts)
			if err != nil {
				return nil, err
			}
			b.Binary(cdc.ColTuple).AppendBytes(p)
			continue
		}
		vals := make([]cdc.Value, len(c.vals))
		for i, v := range c.vals {
			vals[i] = cdc.Value{Kind: cdc.KindText, Data: []byte(v)}
		}
		b.Binary(cdc.ColTuple).AppendBytes(cdc.AppendTuple(nil, vals))
	}
	var frame []byte
	if err := b.Layout(func(rows int, nodes []batch.Node, bufs [][]byte) {
		frame = batch.EncodeFrame(nil, rows, nodes, bufs, nil)
	}); err != nil {
		return nil, err
	}
	if err := f.view.Parse(frame); err != nil {
		return nil, err
	}
	if cb.cp != 0 {
		s := pgrepl.LSN(cb.cp).String()
		f.cp = &abi.Checkpoint{Stream: cdc.StreamName, CursorField: cdc.CursorField, CursorValue: &abi.CursorValue{String: &s}}
	}
	return f.view, nil
}

func (f *changeFeed) Checkpoint() *abi.Checkpoint { return f.cp }
func (f *changeFeed) Commit() error               { return nil }

var itemSchema = cdc.TableSchema{Columns: []cdc.Column{{Name: "id", Type: "integer"}, {Name: "v", Type: "integer"}}, Key: []string{"id"}}

func schemaRow(lsn int64, truncate bool) change {
	ts := itemSchema
	ts.Truncate = truncate
	return change{op: cdc.OpSchema, lsn: lsn, ts: &ts}
}

// txn is a source transaction committed at lsn that sets item 1 to v,
// ending at lsn+16 (its checkpoint).
func txn(lsn int64, v string) changeBatch {
	return changeBatch{rows: []change{{op: cdc.OpUpdate, lsn: lsn, vals: []string{"1", v}}}, cp: lsn + 16}
}

// TestApplyPositionNeverMovesBack: a retry whose source resumes before
// the position the destination committed (an acknowledgement was lost)
// re-reads transactions the destination holds. Their checkpoints must not
// move the position back: before, the first of them set it to its own
// LSN, so the next ones were applied a second time and the destination
// went back in time (item 1 from 4 to 3) until the source caught up.
func TestApplyPositionNeverMovesBack(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.NewDB(t))
	ctx := context.Background()
	req := ApplyRequest{Pipeline: "p", Tables: []string{"public.item"}}
	first := newChangeFeed(t,
		changeBatch{rows: []change{schemaRow(100, true), {op: cdc.OpSnapshot, lsn: 100, vals: []string{"1", "0"}}}, cp: 100},
		txn(200, "1"), txn(300, "2"), txn(400, "3"), txn(500, "4"))
	if _, err := Apply(ctx, conn, req, first); err != nil {
		t.Fatal(err)
	}
	// The retry resumes after the first transaction and stops after the third.
	retry := newChangeFeed(t, changeBatch{rows: []change{schemaRow(216, false)}}, txn(300, "2"), txn(400, "3"))
	st, err := Apply(ctx, conn, req, retry)
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 2 || st.Changes != 0 {
		t.Errorf("retry applied %d changes and skipped %d, want 0 and 2", st.Changes, st.Skipped)
	}
	if got := pgtest.QueryStrings(t, conn, "SELECT v::text FROM item WHERE id = 1"); len(got) != 1 || got[0][0] != "4" {
		t.Errorf("item 1 = %v after the retry, want 4", got)
	}
	if got := pgtest.QueryStrings(t, conn, "SELECT lsn::text FROM "+PositionsTable); len(got) != 1 || got[0][0] != "516" {
		t.Errorf("position = %v after the retry, want 516 (the last transaction's end)", got)
	}

	// A new snapshot restarts the position, even at a lower LSN (another
	// source server): the changes after it are applied.
	resnap := newChangeFeed(t,
		changeBatch{rows: []change{schemaRow(50, true), {op: cdc.OpSnapshot, lsn: 50, vals: []string{"1", "7"}}}, cp: 50},
		txn(60, "8"))
	if _, err := Apply(ctx, conn, req, resnap); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.QueryStrings(t, conn, "SELECT v::text FROM item WHERE id = 1"); len(got) != 1 || got[0][0] != "8" {
		t.Errorf("item 1 = %v after a new snapshot, want 8", got)
	}
	if got := pgtest.QueryStrings(t, conn, "SELECT lsn::text FROM "+PositionsTable); len(got) != 1 || got[0][0] != "76" {
		t.Errorf("position = %v after a new snapshot, want 76", got)
	}
}
