package contract

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// Sink is a guest.ReadSink that enforces a stream's projection and batch
// limits before handing batches to the next sink. A batch that already
// conforms is passed on unchanged (no allocation, no copy).
type Sink struct {
	next      guest.ReadSink
	connector string
	log       hclog.Logger
	columns   []string // projection; nil = every column
	maxRows   int64
	maxBytes  int64

	// The projection of the last schema seen: keep[i] is the index in the
	// input of output column i; out is nil when nothing is dropped.
	in     *arrow.Schema
	keep   []int
	out    *arrow.Schema
	warned bool
	splits uint64
}

// NewSink returns a Sink for stream spec of connector, passing batches on
// to next. Zero limits mean abi.DefaultMaxBatchRows and
// abi.DefaultMaxBatchBytes, as the guest's SDK reads them. The projection
// is not enforced on a cdc stream, whose Columns name tables.
func NewSink(connector string, spec abi.StreamSpec, next guest.ReadSink, log hclog.Logger) *Sink {
	s := &Sink{next: next, connector: connector, log: log,
		maxRows: int64(spec.Limits.MaxBatchRows), maxBytes: int64(spec.Limits.MaxBatchBytes)}
	if s.maxRows <= 0 {
		s.maxRows = abi.DefaultMaxBatchRows
	}
	if s.maxBytes <= 0 {
		s.maxBytes = abi.DefaultMaxBatchBytes
	}
	if spec.SyncMode != abi.SyncCDC && len(spec.Columns) > 0 {
		s.columns = spec.Columns
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	return s
}

// Batch implements guest.ReadSink: it projects rec, splits it when it is
// over the limits (the checkpoint goes with the last slice) and passes the
// result on. It owns rec.
func (s *Sink) Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error {
	rec = s.project(rec)
	n, size := rec.NumRows(), Size(rec)
	switch {
	case n <= s.maxRows && size <= s.maxBytes:
		return s.next.Batch(rec, cp)
	case n == 1:
		rec.Release()
		return s.rowTooLarge(size)
	}
	defer rec.Release()
	s.splits++
	if s.splits == 1 {
		s.log.Warn("connector emitted a batch over the stream's limits; the host splits it",
			"connector", s.connector, "rows", n, "bytes", size, "max_batch_rows", s.maxRows, "max_batch_bytes", s.maxBytes)
	}
	for start := int64(0); start < n; {
		end := min(start+s.maxRows, n)
		slice := rec.NewSlice(start, end)
		for size := Size(slice); size > s.maxBytes; size = Size(slice) {
			if end-start == 1 {
				slice.Release()
				return s.rowTooLarge(size)
			}
			// Shrink in proportion to the excess, at least by half.
			end = start + max(1, min((end-start)/2, (end-start)*s.maxBytes/size))
			slice.Release()
			slice = rec.NewSlice(start, end)
		}
		var c *abi.Checkpoint
		if end == n {
			c = cp
		}
		if err := s.next.Batch(slice, c); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// Split returns how many batches were over the limits and split.
func (s *Sink) Split() uint64 { return s.splits }

func (s *Sink) rowTooLarge(size int64) error {
	return &guest.Error{Connector: s.connector, Op: string(abi.OpRead), Envelope: abi.NewErrorEnvelope(abi.CategoryData, "row_too_large",
		fmt.Sprintf("one row is %d bytes of Arrow data, more than the stream's max_batch_bytes (%d): raise resources.max_batch_bytes", size, s.maxBytes))}
}

// project returns rec without the columns the projection does not list
// (rec itself when it has none of those). It releases rec when it returns
// a new record.
func (s *Sink) project(rec arrow.RecordBatch) arrow.RecordBatch {
	if s.columns == nil {
		return rec
	}
	if sch := rec.Schema(); s.in == nil || !sch.Equal(s.in) {
		s.in, s.keep, s.out = sch, s.keep[:0], nil
		var dropped []string
		fields := make([]arrow.Field, 0, len(s.columns))
		for i, f := range sch.Fields() {
			if slices.Contains(s.columns, f.Name) {
				s.keep = append(s.keep, i)
				fields = append(fields, f)
			} else {
				dropped = append(dropped, f.Name)
			}
		}
		if len(dropped) > 0 {
			md := sch.Metadata()
			s.out = arrow.NewSchema(fields, &md)
			if !s.warned {
				s.warned = true
				s.log.Warn("connector ignored the stream's projection; the host drops the columns it did not ask for",
					"connector", s.connector, "columns", strings.Join(dropped, ","))
			}
		}
	}
	if s.out == nil {
		return rec
	}
	cols := make([]arrow.Array, len(s.keep))
	for i, k := range s.keep {
		cols[i] = rec.Column(k)
	}
	out := array.NewRecordBatch(s.out, cols, rec.NumRows())
	rec.Release()
	return out
}
