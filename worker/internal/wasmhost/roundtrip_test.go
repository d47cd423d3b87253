package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/go-cmp/cmp"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// collectSink keeps every record and checkpoint of a read.
type collectSink struct {
	recs []arrow.RecordBatch
	cps  []*abi.Checkpoint
}

func (s *collectSink) Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error {
	s.recs = append(s.recs, rec)
	s.cps = append(s.cps, cp)
	return nil
}

func (s *collectSink) release() {
	for _, r := range s.recs {
		r.Release()
	}
}

func (s *collectSink) rows() int64 {
	n := int64(0)
	for _, r := range s.recs {
		n += r.NumRows()
	}
	return n
}

func TestDiscoverAndCheck(t *testing.T) {
	m := loadModule(t, "test-generator")
	ctx := context.Background()
	cat, err := m.Discover(ctx, readInvocation(t, map[string]any{}))
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if len(cat.Streams) != 1 || cat.Streams[0].Name != "generated" || len(cat.Streams[0].Columns) < 8 {
		t.Fatalf("unexpected catalog %+v", cat)
	}
	for _, c := range cat.Streams[0].Columns {
		if _, err := abi.ParseType(c.ArrowType); err != nil {
			t.Errorf("column %s: %v", c.Name, err)
		}
	}
	res, err := m.Check(ctx, readInvocation(t, map[string]any{"rows": 5}))
	if err != nil || !res.OK {
		t.Fatalf("check: %+v, %v", res, err)
	}
	// Bad config: unknown field -> config error, CheckResult not OK.
	res, err = m.Check(ctx, readInvocation(t, map[string]any{"rowz": 5}))
	var e *guest.Error
	if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryConfig || res == nil || res.OK {
		t.Fatalf("check with bad config: %+v, %v", res, err)
	}
	if e.Connector != "test-generator" {
		t.Errorf("error names connector %q", e.Connector)
	}
}

func TestReadRoundTrip(t *testing.T) {
	m := loadModule(t, "test-generator")
	sink := &collectSink{}
	defer sink.release()
	const rows = 1000
	st, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": rows, "batch_rows": 128, "checkpoint_every": 2}), sink)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got := sink.rows(); got != rows || st.Records != rows {
		t.Fatalf("rows: sink %d, stats %d, want %d", got, st.Records, rows)
	}
	// 8 batches (7x128 + 104), checkpoints after batches 2,4,6,8.
	if len(sink.recs) != 8 || st.Batches != 8 {
		t.Fatalf("got %d records, stats %d batches", len(sink.recs), st.Batches)
	}
	var cpRows []int64
	last := int64(-1)
	for i, cp := range sink.cps {
		if cp == nil {
			continue
		}
		cpRows = append(cpRows, *cp.CursorValue.Int)
		if *cp.CursorValue.Int <= last {
			t.Errorf("checkpoint %d not increasing: %d after %d", i, *cp.CursorValue.Int, last)
		}
		last = *cp.CursorValue.Int
		// The checkpoint covers its record: its last id is the cursor.
		ids := sink.recs[i].Column(0).(*array.Int64)
		if got := ids.Value(ids.Len() - 1); got != last {
			t.Errorf("checkpoint %d cursor %d, record ends at id %d", i, last, got)
		}
	}
	if diff := cmp.Diff([]int64{255, 511, 767, 999}, cpRows); diff != "" {
		t.Errorf("checkpoint cursors (-want +got):\n%s", diff)
	}
	// Values.
	id := int64(0)
	for _, rec := range sink.recs {
		if err := checkGenerated(rec, id); err != nil {
			t.Fatal(err)
		}
		id += rec.NumRows()
	}
	f, _ := sink.recs[0].Schema().FieldsByName("created_at")
	if v, _ := f[0].Metadata.GetValue(abi.MetaSourceType); v != "timestamptz" {
		t.Errorf("source_type metadata %q", v)
	}
}

// checkGenerated compares a record with the generator's formulas.
func checkGenerated(rec arrow.RecordBatch, first int64) error {
	s := rec.Schema()
	col := func(name string) arrow.Array {
		idx := s.FieldIndices(name)
		if len(idx) == 0 {
			return nil
		}
		return rec.Column(idx[0])
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		i := first + int64(r)
		if got := col("id").(*array.Int64).Value(r); got != i {
			return fmt.Errorf("row %d id %d", i, got)
		}
		if name, ok := col("name").(*array.String); ok {
			if (i%7 == 3) != name.IsNull(r) || !name.IsNull(r) && name.Value(r) != fmt.Sprintf("name-%08d", i) {
				return fmt.Errorf("row %d name %q null=%v", i, name.Value(r), name.IsNull(r))
			}
		}
		if ts, ok := col("created_at").(*array.Timestamp); ok && int64(ts.Value(r)) != 1_700_000_000_000_000+i*1000 {
			return fmt.Errorf("row %d ts %d", i, ts.Value(r))
		}
		if d, ok := col("amount").(*array.Decimal128); ok {
			if (i%11 == 5) != d.IsNull(r) || !d.IsNull(r) && d.Value(r).LowBits() != uint64(i*101-5000) {
				return fmt.Errorf("row %d amount %v", i, d.Value(r))
			}
		}
		if b, ok := col("active").(*array.Boolean); ok && !b.IsNull(r) && b.Value(r) != (i%3 == 0) {
			return fmt.Errorf("row %d active %v", i, b.Value(r))
		}
		if l, ok := col("tags").(*array.List); ok {
			if (i%13 == 0) != l.IsNull(r) {
				return fmt.Errorf("row %d tags null=%v", i, l.IsNull(r))
			}
			if !l.IsNull(r) {
				s, e := l.ValueOffsets(r)
				if e-s != i%4 {
					return fmt.Errorf("row %d tags len %d", i, e-s)
				}
				elems := l.ListValues().(*array.Int32)
				for k := s; k < e; k++ {
					if elems.Value(int(k)) != int32(i+k-s) {
						return fmt.Errorf("row %d tag %d = %d", i, k-s, elems.Value(int(k)))
					}
				}
			}
		}
		if iv, ok := col("span").(*array.MonthDayNanoInterval); ok {
			v := iv.Value(r)
			if v.Months != int32(i%12) || v.Days != int32(i%28) || v.Nanoseconds != i*1000 {
				return fmt.Errorf("row %d span %+v", i, v)
			}
		}
	}
	return nil
}

// sliceSource replays records as a guest.WriteSource.
type sliceSource struct {
	recs []arrow.RecordBatch
	cps  []*abi.Checkpoint
	i    int
}

func (s *sliceSource) Next(context.Context) (arrow.RecordBatch, *abi.Checkpoint, error) {
	if s.i >= len(s.recs) {
		return nil, nil, io.EOF
	}
	s.i++
	s.recs[s.i-1].Retain()
	return s.recs[s.i-1], s.cps[s.i-1], nil
}

type ack struct {
	cursor  int64
	records uint64
}

func TestWriteRoundTrip(t *testing.T) {
	m := loadModule(t, "test-generator")
	sink := &collectSink{}
	defer sink.release()
	const rows = 3000
	if _, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": rows, "batch_rows": 500}), sink); err != nil {
		t.Fatalf("read: %v", err)
	}
	var acks []ack
	inv := readInvocation(t, map[string]any{"expect_rows": rows, "commit_every": 2})
	inv.Request.Stream.WriteMode = abi.WriteAppend
	st, err := m.Write(context.Background(), inv, &sliceSource{recs: sink.recs, cps: sink.cps},
		func(cp *abi.Checkpoint, records, _, _ uint64) error {
			a := ack{cursor: -1, records: records}
			if cp != nil {
				a.cursor = *cp.CursorValue.Int
			}
			acks = append(acks, a)
			return nil
		})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if st.Records != rows || st.Batches != 6 {
		t.Errorf("stats %+v", st)
	}
	want := []ack{{999, 1000}, {1999, 2000}, {2999, 3000}, {2999, 3000}}
	if diff := cmp.Diff(want, acks, cmp.AllowUnexported(ack{})); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

func TestWriteDetectsCorruptData(t *testing.T) {
	m := loadModule(t, "test-generator")
	sink := &collectSink{}
	defer sink.release()
	if _, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": 100, "columns": []string{"qty"}}), sink); err != nil {
		t.Fatalf("read: %v", err)
	}
	// Corrupt qty of row 5 in place.
	qty := sink.recs[0].Column(1).(*array.Int32)
	qty.Int32Values()[5] = -1
	_, err := m.Write(context.Background(), readInvocation(t, map[string]any{}), &sliceSource{recs: sink.recs, cps: sink.cps}, nil)
	var e *guest.Error
	if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryData || e.Envelope.Code != "mismatch" {
		t.Fatalf("want a data mismatch error, got %v", err)
	}
}
