package dest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow/pgarrowtest"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/source"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// recorded is a source stream captured in memory: batches and the
// checkpoint attached to each batch (nil when none).
type recorded struct {
	fields []abi.Field
	cols   [][]*pgarrowtest.Column
	cps    []*abi.Checkpoint
	cur    *memBatch
	max    int
}

type memBatch struct {
	cols []*pgarrowtest.Column
	max  int
}

func (b *memBatch) Writer(i int) pgarrow.Writer { return b.cols[i] }
func (b *memBatch) Rows() int                   { return len(b.cols[0].Vals) }
func (b *memBatch) Full() bool                  { return b.Rows() >= b.max }
func (b *memBatch) ByteSize() int               { return b.Rows() * 8 }
func (b *memBatch) Column(i int) pgarrow.Reader { return b.cols[i] }

func (r *recorded) Schema(_ context.Context, f []abi.Field) (source.Batch, error) {
	r.fields = f
	r.cur = r.newBatch()
	return r.cur, nil
}

func (r *recorded) newBatch() *memBatch {
	b := &memBatch{max: r.max}
	for range r.fields {
		b.cols = append(b.cols, &pgarrowtest.Column{})
	}
	return b
}

func (r *recorded) Emit(context.Context) error {
	cols := make([]*pgarrowtest.Column, len(r.cur.cols))
	for i, c := range r.cur.cols {
		cols[i] = &pgarrowtest.Column{Vals: c.Vals, Child: c.Child}
		*c = pgarrowtest.Column{}
	}
	r.cols = append(r.cols, cols)
	r.cps = append(r.cps, nil)
	return nil
}

func (r *recorded) Checkpoint(_ context.Context, cp abi.Checkpoint) error {
	r.cps[len(r.cps)-1] = &cp
	return nil
}

// readStream reads a stream from the source database.
func readStream(t testing.TB, conn *pgclient.Conn, spec abi.StreamSpec, resume *abi.Checkpoint, maxRows int) *recorded {
	t.Helper()
	r := &recorded{max: maxRows}
	if _, err := source.Read(context.Background(), conn, source.Request{Stream: spec, Resume: resume}, r); err != nil {
		t.Fatalf("read %s: %v", spec.Name, err)
	}
	return r
}

// input replays a recorded stream; Commit fails after failCommit acks
// (0 = never) to simulate a lost acknowledgement.
type input struct {
	r          *recorded
	i          int
	latest     *abi.Checkpoint
	acked      []*abi.Checkpoint
	failCommit int
	reported   *abi.Checkpoint
}

var errAckLost = errors.New("ack lost")

func (in *input) Next(context.Context) (Batch, error) {
	if in.i >= len(in.r.cols) {
		return nil, io.EOF
	}
	b := &memBatch{cols: in.r.cols[in.i]}
	if cp := in.r.cps[in.i]; cp != nil {
		in.latest = cp
	}
	in.i++
	return b, nil
}

func (in *input) Checkpoint() *abi.Checkpoint { return in.latest }

// Hold implements Input: every batch stays in memory, so the batch is
// its own copy.
func (in *input) Hold(b Batch, _ Held, _ int) Held { return heldMem{b} }

// heldMem is a memBatch held as it is.
type heldMem struct{ b Batch }

func (h heldMem) Batch() (Batch, error) { return h.b, nil }
func (h heldMem) Size() int             { return h.b.Rows() * 8 }

func (in *input) Commit(uint64) error {
	if in.failCommit > 0 && len(in.acked) == in.failCommit {
		return errAckLost
	}
	in.acked = append(in.acked, in.latest)
	return nil
}

func (in *input) ReportCommitted(cp abi.Checkpoint) error {
	in.reported = &cp
	return nil
}
