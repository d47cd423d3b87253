package source

import (
	"context"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow/pgarrowtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// memSink collects every emitted batch in memory.
type memSink struct {
	maxRows     int
	fields      []abi.Field
	cur         *memBatch
	batches     [][]*pgarrowtest.Column
	checkpoints []abi.Checkpoint
	failAfter   int // fail Emit after this many batches (0 = never)
}

type memBatch struct {
	cols    []*pgarrowtest.Column
	maxRows int
}

func (b *memBatch) Writer(i int) pgarrow.Writer { return b.cols[i] }
func (b *memBatch) Rows() int                   { return len(b.cols[0].Vals) }
func (b *memBatch) Full() bool                  { return b.Rows() >= b.maxRows }
func (b *memBatch) ByteSize() int               { return b.Rows() * 8 }

func (s *memSink) Schema(_ context.Context, fields []abi.Field) (Batch, error) {
	s.fields = fields
	s.cur = &memBatch{maxRows: s.maxRows}
	for range fields {
		s.cur.cols = append(s.cur.cols, &pgarrowtest.Column{})
	}
	return s.cur, nil
}

var errInjected = &DataError{Column: "injected", Err: context.Canceled}

func (s *memSink) Emit(context.Context) error {
	if s.failAfter > 0 && len(s.batches) == s.failAfter {
		return errInjected
	}
	cols := make([]*pgarrowtest.Column, len(s.cur.cols))
	for i, c := range s.cur.cols {
		cols[i] = &pgarrowtest.Column{Vals: c.Vals, Child: c.Child}
		*c = pgarrowtest.Column{}
	}
	s.batches = append(s.batches, cols)
	return nil
}

func (s *memSink) Checkpoint(_ context.Context, cp abi.Checkpoint) error {
	s.checkpoints = append(s.checkpoints, cp)
	return nil
}

// rows returns the number of rows over all batches.
func (s *memSink) rows() int {
	n := 0
	for _, b := range s.batches {
		n += len(b[0].Vals)
	}
	return n
}

// column returns every value of column i over all batches (lists as
// [start,end) ranges into their own batch; use only for scalar columns).
func (s *memSink) column(i int) []any {
	var out []any
	for _, b := range s.batches {
		out = append(out, b[i].Vals...)
	}
	return out
}
