package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// wireRow encodes fields as consecutive (int32 BE length, bytes); a nil
// field is NULL.
func wireRow(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		if f == nil {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func be64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
func be32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func be16(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

var wireFields = []abi.Field{
	{Name: "id", Type: "int64"}, {Name: "s", Type: "utf8", Nullable: true}, {Name: "i", Type: "int32", Nullable: true},
	{Name: "f", Type: "float64", Nullable: true}, {Name: "ts", Type: "timestamp[us, UTC]", Nullable: true},
	{Name: "b", Type: "bool", Nullable: true}, {Name: "d", Type: "date32", Nullable: true},
	{Name: "h", Type: "int16", Nullable: true}, {Name: "x", Type: "int64", Nullable: true},
}

var wireCols = []WireColumn{
	{Kind: WireBE64}, {Kind: WireBytes}, {Kind: WireBE32}, {Kind: WireBE64}, {Kind: WireBE64Shift, Shift: 1000},
	{Kind: WireBool}, {Kind: WireBE32Shift, Shift: 10}, {Kind: WireBE16}, {Kind: WireCustom},
}

// TestAppendWireRowMatchesAppenders builds the same rows through
// AppendWireRow and through the typed appenders and compares the buffers.
func TestAppendWireRowMatchesAppenders(t *testing.T) {
	s, err := NewSchema(wireFields)
	if err != nil {
		t.Fatal(err)
	}
	wired, _ := NewBuilder(s, 4, 0) // small: forces growth
	typed, _ := NewBuilder(s, 4, 0)
	cols := append([]WireColumn(nil), wireCols...)
	x := wired.Int64(8)
	cols[8].Decode = func(v []byte) error { return x.AppendBigEndian8Plus(v, 1) }
	if err := wired.CheckWireColumns(cols); err != nil {
		t.Fatal(err)
	}
	for r := range 50 {
		if r%7 == 3 {
			row := wireRow(be64(int64(r)), nil, nil, nil, nil, nil, nil, nil, nil, []byte("extra"))
			if err := wired.AppendWireRow(row, cols); err != nil {
				t.Fatal(err)
			}
			typed.Int64(0).Append(int64(r))
			for c := 1; c < 9; c++ {
				typed.Column(c).AppendNull()
			}
			continue
		}
		ts := int64(r) * 1e6
		if r == 5 {
			ts = math.MaxInt64 // sentinel: kept
		}
		d := int32(r)
		if r == 6 {
			d = math.MinInt32
		}
		str := bytes.Repeat([]byte{'a' + byte(r%26)}, r)
		row := wireRow(be64(int64(r)), str, be32(int32(-r)), be64(int64(math.Float64bits(float64(r)/3))), be64(ts),
			[]byte{byte(r & 1)}, be32(d), be16(int16(r)), be64(int64(r)*3))
		if err := wired.AppendWireRow(row, cols); err != nil {
			t.Fatal(err)
		}
		typed.Int64(0).Append(int64(r))
		typed.Utf8(1).AppendBytes(str)
		typed.Int32(2).Append(int32(-r))
		typed.Float64(3).Append(float64(r) / 3)
		if ts != math.MaxInt64 {
			ts += 1000
		}
		typed.Timestamp(4).Append(ts)
		typed.Bool(5).Append(r&1 == 1)
		if d != math.MinInt32 {
			d += 10
		}
		typed.Date32(6).Append(d)
		typed.Int16(7).Append(int16(r))
		typed.Int64(8).Append(int64(r)*3 + 1)
	}
	var want [][]byte
	_ = typed.Layout(func(rows int, _ []Node, bufs [][]byte) {
		for _, b := range bufs {
			want = append(want, bytes.Clone(b))
		}
	})
	_ = wired.Layout(func(rows int, _ []Node, bufs [][]byte) {
		if rows != 50 || len(bufs) != len(want) {
			t.Fatalf("rows %d, %d buffers; want 50, %d", rows, len(bufs), len(want))
		}
		for i := range bufs {
			if !bytes.Equal(bufs[i], want[i]) {
				t.Errorf("buffer %d differs:\n got %x\nwant %x", i, bufs[i], want[i])
			}
		}
	})
}

func TestAppendWireRowErrors(t *testing.T) {
	s, _ := NewSchema(wireFields[:5])
	b, _ := NewBuilder(s, 8, 0)
	cols := wireCols[:5]
	if err := b.CheckWireColumns(cols); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckWireColumns([]WireColumn{{Kind: WireBE32}, {}, {}, {}, {}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("mismatched kinds: %v", err)
	}
	ok := [][]byte{be64(1), []byte("s"), be32(1), be64(1), be64(1)}
	cases := []struct {
		name string
		row  []byte
		col  int
		want error
	}{
		{"short row", wireRow(ok[:3]...), 3, ErrWireRow},
		{"wrong width", wireRow(ok[0], ok[1], be16(1), ok[3], ok[4]), 2, ErrValueLength},
		{"overrun", append(wireRow(ok[:4]...), 0, 0, 0, 9, 1), 4, ErrWireRow},
		{"negative length", append(wireRow(ok[:1]...), 0xff, 0xff, 0xff, 0xfe), 1, ErrWireRow},
		{"shift overflow", wireRow(ok[0], ok[1], ok[2], ok[3], be64(math.MaxInt64-500)), 4, ErrOutOfRange},
	}
	for _, c := range cases {
		b.Reset()
		err := b.AppendWireRow(c.row, cols)
		var ce *ColumnError
		if !errors.As(err, &ce) || ce.Column != c.col || !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want column %d %v", c.name, err, c.col, c.want)
		}
	}
}

// BenchmarkAppendWireRow decodes the 6-column bench schema from wire rows.
func BenchmarkAppendWireRow(b *testing.B) {
	s, _ := NewSchema(benchFields)
	bl, _ := NewBuilder(s, benchRows, 0)
	cols := []WireColumn{{Kind: WireBE64}, {Kind: WireBytes}, {Kind: WireBE32}, {Kind: WireBE64}, {Kind: WireBE64Shift, Shift: 7}, {Kind: WireBool}}
	if err := bl.CheckWireColumns(cols); err != nil {
		b.Fatal(err)
	}
	name := []byte("0123456789012345678901234567890123456789")
	rows := make([][]byte, 1024)
	for r := range rows {
		rows[r] = wireRow(be64(int64(r)), name, be32(int32(r)), be64(int64(r)), be64(int64(r)), []byte{1})
	}
	b.ReportAllocs()
	for b.Loop() {
		for r := range benchRows {
			if err := bl.AppendWireRow(rows[r&1023], cols); err != nil {
				b.Fatal(err)
			}
		}
		bl.Reset()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}

// TestFullEstimateBoundsByteSize checks that Full's cheap bound never
// under-counts ByteSize, with and without nulls, at every row count.
func TestFullEstimateBoundsByteSize(t *testing.T) {
	s, _ := NewSchema(wireFields)
	b, _ := NewBuilder(s, 1000, 0)
	cols := append([]WireColumn(nil), wireCols...)
	x := b.Int64(8)
	cols[8].Decode = func(v []byte) error { return x.AppendBigEndian8(v) }
	for r := range 300 {
		var row []byte
		if r%5 == 0 {
			row = wireRow(be64(1), nil, nil, nil, nil, nil, nil, nil, nil)
		} else {
			row = wireRow(be64(1), bytes.Repeat([]byte("x"), r%13), be32(1), be64(1), be64(1), []byte{1}, be32(1), be16(1), be64(1))
		}
		if err := b.AppendWireRow(row, cols); err != nil {
			t.Fatal(err)
		}
		if est, exact := b.estimate(b.Rows()), b.ByteSize(); est < exact {
			t.Fatalf("row %d: estimate %d < ByteSize %d", r, est, exact)
		}
	}
}
