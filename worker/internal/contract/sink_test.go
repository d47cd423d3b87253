package contract

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// collect records what reaches the next sink.
type collect struct {
	recs []arrow.RecordBatch
	cps  []*abi.Checkpoint
}

func (c *collect) Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error {
	c.recs = append(c.recs, rec)
	c.cps = append(c.cps, cp)
	return nil
}

func (c *collect) release() {
	for _, r := range c.recs {
		r.Release()
	}
}

// record builds rows rows of n int64, label utf8 ("row-<n>" padded to
// labelLen bytes) and extra int64.
func record(t *testing.T, rows, labelLen int) arrow.RecordBatch {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "extra", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		l := fmt.Sprintf("row-%d", i)
		b.Field(1).(*array.StringBuilder).Append(l + strings.Repeat("x", max(0, labelLen-len(l))))
		b.Field(2).(*array.Int64Builder).Append(int64(i) * 10)
	}
	return b.NewRecordBatch()
}

func names(rec arrow.RecordBatch) []string {
	var out []string
	for _, f := range rec.Schema().Fields() {
		out = append(out, f.Name)
	}
	return out
}

func TestSink(t *testing.T) {
	cp := &abi.Checkpoint{Stream: "numbers", Records: 1}
	tests := []struct {
		name      string
		spec      abi.StreamSpec
		rows      int
		labelLen  int
		wantRows  []int64
		wantCols  []string
		wantSplit bool
		wantErr   string
	}{
		{name: "conforming batch passes", spec: abi.StreamSpec{Limits: abi.Limits{MaxBatchRows: 100}}, rows: 100,
			wantRows: []int64{100}, wantCols: []string{"n", "label", "extra"}},
		{name: "projection drops columns", spec: abi.StreamSpec{Columns: []string{"n", "extra"}}, rows: 10,
			wantRows: []int64{10}, wantCols: []string{"n", "extra"}},
		{name: "cdc columns name tables", spec: abi.StreamSpec{SyncMode: abi.SyncCDC, Columns: []string{"public.t"}}, rows: 3,
			wantRows: []int64{3}, wantCols: []string{"n", "label", "extra"}},
		{name: "rows over the limit are split", spec: abi.StreamSpec{Limits: abi.Limits{MaxBatchRows: 4}}, rows: 10,
			wantRows: []int64{4, 4, 2}, wantCols: []string{"n", "label", "extra"}, wantSplit: true},
		{name: "zero limits mean the defaults", spec: abi.StreamSpec{}, rows: abi.DefaultMaxBatchRows + 5,
			wantRows: []int64{abi.DefaultMaxBatchRows, 5}, wantCols: []string{"n", "label", "extra"}, wantSplit: true},
		{name: "bytes over the limit are split", spec: abi.StreamSpec{Limits: abi.Limits{MaxBatchBytes: 4096}}, rows: 100, labelLen: 100,
			wantCols: []string{"n", "label", "extra"}, wantSplit: true},
		{name: "projection then split", spec: abi.StreamSpec{Columns: []string{"n"}, Limits: abi.Limits{MaxBatchRows: 6}}, rows: 10,
			wantRows: []int64{6, 4}, wantCols: []string{"n"}, wantSplit: true},
		{name: "a row over max_batch_bytes is refused", spec: abi.StreamSpec{Limits: abi.Limits{MaxBatchBytes: 64}}, rows: 2, labelLen: 200,
			wantErr: "max_batch_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := &collect{}
			defer next.release()
			s := NewSink("test", tc.spec, next, nil)
			in := record(t, tc.rows, tc.labelLen)
			err := s.Batch(in, cp)
			if tc.wantErr != "" {
				var ge *guest.Error
				if !errors.As(err, &ge) || ge.Envelope.Code != "row_too_large" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want row_too_large naming %s, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (s.Split() > 0) != tc.wantSplit {
				t.Errorf("split %d, want split %v", s.Split(), tc.wantSplit)
			}
			var rows []int64
			next0 := int64(0)
			maxBytes := int64(tc.spec.Limits.MaxBatchBytes)
			for i, r := range next.recs {
				rows = append(rows, r.NumRows())
				if got := names(r); !slices.Equal(got, tc.wantCols) {
					t.Errorf("batch %d columns %v, want %v", i, got, tc.wantCols)
				}
				if maxBytes > 0 && Size(r) > maxBytes {
					t.Errorf("batch %d is %d bytes, over %d", i, Size(r), maxBytes)
				}
				// Rows arrive in order, none lost or repeated.
				ns := r.Column(0).(*array.Int64)
				for j := range ns.Len() {
					if ns.Value(j) != next0 {
						t.Fatalf("batch %d row %d: n=%d, want %d", i, j, ns.Value(j), next0)
					}
					next0++
				}
				if want := i == len(next.recs)-1; (next.cps[i] == cp) != want {
					t.Errorf("batch %d checkpoint %v, want it on the last batch only", i, next.cps[i])
				}
			}
			if next0 != int64(tc.rows) {
				t.Errorf("%d rows passed on, want %d", next0, tc.rows)
			}
			if tc.wantRows != nil && !slices.Equal(rows, tc.wantRows) {
				t.Errorf("batch rows %v, want %v", rows, tc.wantRows)
			}
			if tc.wantRows == nil && len(rows) < 2 {
				t.Errorf("batch rows %v, want a split", rows)
			}
		})
	}
}

// A batch that conforms is passed on as is, not rebuilt.
func TestSinkPassesConformingBatchUnchanged(t *testing.T) {
	next := &collect{}
	defer next.release()
	in := record(t, 10, 0)
	if err := NewSink("test", abi.StreamSpec{Columns: []string{"n", "label", "extra"}}, next, nil).Batch(in, nil); err != nil {
		t.Fatal(err)
	}
	if len(next.recs) != 1 || next.recs[0] != in {
		t.Fatalf("conforming batch was rebuilt: %v", next.recs)
	}
}

// Size counts only a slice's rows: the halves of a batch add up to it
// (give or take the offsets entry and padding each half adds).
func TestSizeOfSlices(t *testing.T) {
	rec := record(t, 1000, 50)
	defer rec.Release()
	a, b := rec.NewSlice(0, 500), rec.NewSlice(500, 1000)
	defer a.Release()
	defer b.Release()
	whole, sa, sb := Size(rec), Size(a), Size(b)
	if sa >= whole || sb >= whole || sa+sb < whole || sa+sb > whole+64 {
		t.Fatalf("size %d, halves %d + %d", whole, sa, sb)
	}
}
