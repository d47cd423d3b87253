package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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

// appendRow appends one row through AppendWireRows.
func appendRow(b *Builder, row []byte, cols []WireColumn) error {
	n, err := b.AppendWireRows([][]byte{row}, cols)
	if err == nil && n != 1 {
		err = fmt.Errorf("appended %d rows", n)
	}
	return err
}

// TestAppendWireRowsMatchesAppenders builds the same rows through
// AppendWireRows (one at a time, and in chunks) and through the typed
// appenders and compares the buffers.
func TestAppendWireRowsMatchesAppenders(t *testing.T) {
	for _, chunk := range []int{1, 3, 64} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) { testWireRows(t, chunk) })
	}
}

func testWireRows(t *testing.T, chunk int) {
	s, err := NewSchema(wireFields)
	if err != nil {
		t.Fatal(err)
	}
	wired, _ := NewBuilder(s, 4, 0) // small: forces growth
	wired.maxRows = 1000
	typed, _ := NewBuilder(s, 4, 0)
	cols := append([]WireColumn(nil), wireCols...)
	x := wired.Int64(8)
	cols[8].Decode = func(v []byte) error { return x.AppendBigEndian8Plus(v, 1) }
	if err := wired.CheckWireColumns(cols); err != nil {
		t.Fatal(err)
	}
	var pending [][]byte
	flush := func() {
		for len(pending) > 0 {
			n, err := wired.AppendWireRows(pending, cols)
			if err != nil || n == 0 {
				t.Fatalf("append: %d, %v", n, err)
			}
			pending = pending[n:]
		}
	}
	for r := range 50 {
		if r%7 == 3 {
			pending = append(pending, wireRow(be64(int64(r)), nil, nil, nil, nil, nil, nil, nil, nil, []byte("extra")))
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
		pending = append(pending, wireRow(be64(int64(r)), str, be32(int32(-r)), be64(int64(math.Float64bits(float64(r)/3))), be64(ts),
			[]byte{byte(r & 1)}, be32(d), be16(int16(r)), be64(int64(r)*3)))
		if len(pending) >= chunk {
			flush()
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
	flush()
	requireSameBuffers(t, wired, typed, 50)
}

// requireSameBuffers fails unless got holds rows rows in exactly want's
// Arrow buffers.
func requireSameBuffers(t *testing.T, got, want *Builder, rows int) {
	t.Helper()
	var wantBufs [][]byte
	_ = want.Layout(func(_ int, _ []Node, bufs [][]byte) {
		for _, b := range bufs {
			wantBufs = append(wantBufs, bytes.Clone(b))
		}
	})
	_ = got.Layout(func(n int, _ []Node, bufs [][]byte) {
		if n != rows || len(bufs) != len(wantBufs) {
			t.Fatalf("rows %d, %d buffers; want %d, %d", n, len(bufs), rows, len(wantBufs))
		}
		for i := range bufs {
			if !bytes.Equal(bufs[i], wantBufs[i]) {
				t.Errorf("buffer %d differs:\n got %x\nwant %x", i, bufs[i], wantBufs[i])
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
		err := appendRow(b, c.row, cols)
		var ce *ColumnError
		if !errors.As(err, &ce) || ce.Column != c.col || !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want column %d %v", c.name, err, c.col, c.want)
		}
	}
}

// TestAppendWireRowsBounds checks that a chunk stops at the row bound and
// near the byte bound, and that an empty batch always takes a row.
func TestAppendWireRowsBounds(t *testing.T) {
	s, _ := NewSchema([]abi.Field{{Name: "s", Type: "utf8"}})
	cols := []WireColumn{{Kind: WireBytes}}
	rows := make([][]byte, 100)
	for i := range rows {
		rows[i] = wireRow(bytes.Repeat([]byte("x"), 100))
	}
	b, _ := NewBuilder(s, 10, 0)
	if n, err := b.AppendWireRows(rows, cols); n != 10 || err != nil || !b.Full() {
		t.Fatalf("row bound: %d, %v, full %v", n, err, b.Full())
	}
	b, _ = NewBuilder(s, 1000, 1000)
	n, err := b.AppendWireRows(rows, cols)
	if err != nil || n == 0 || n >= 10 || b.ByteSize() > 1000 {
		t.Fatalf("byte bound: %d rows, %d bytes, %v", n, b.ByteSize(), err)
	}
	big := [][]byte{wireRow(bytes.Repeat([]byte("y"), 5000))}
	if n, err := b.AppendWireRows(big, cols); n != 0 || err != nil {
		t.Fatalf("a non-empty batch took an oversized row: %d, %v", n, err)
	}
	b.Reset()
	if n, err := b.AppendWireRows(big, cols); n != 1 || err != nil || !b.Full() {
		t.Fatalf("an empty batch refused an oversized row: %d, %v", n, err)
	}
}

// TestAppendWireRowsFixed checks a WireFixed column against the typed
// appenders: values, NULLs, several calls into one batch, the fields it is
// given, and its errors.
func TestAppendWireRowsFixed(t *testing.T) {
	s, _ := NewSchema([]abi.Field{{Name: "s", Type: "utf8", Nullable: true}, {Name: "x", Type: "int64", Nullable: true}})
	errOdd := errors.New("odd")
	fixed := func(dst []byte, f WireFields) error {
		if len(dst) != f.Len()*8 {
			return fmt.Errorf("%d bytes for %d rows", len(dst), f.Len())
		}
		for r := 0; r < f.Len(); r++ {
			v := f.Field(r)
			switch {
			case v == nil:
				continue
			case len(v) == 1:
				return errOdd
			}
			binary.LittleEndian.PutUint64(dst[r*8:], binary.BigEndian.Uint64(v)+1)
		}
		return nil
	}
	cols := []WireColumn{{Kind: WireBytes}, {Kind: WireFixed, Fixed: fixed}}
	wired, _ := NewBuilder(s, 100, 0)
	typed, _ := NewBuilder(s, 100, 0)
	if err := wired.CheckWireColumns(cols); err != nil {
		t.Fatal(err)
	}
	var rows [][]byte
	for r := range 40 {
		str := bytes.Repeat([]byte("z"), r%5)
		if r%3 == 1 {
			rows = append(rows, wireRow(str, nil))
			typed.Utf8(0).AppendBytes(str)
			typed.Int64(1).AppendNull()
			continue
		}
		rows = append(rows, wireRow(str, be64(int64(r)*1000-7)))
		typed.Utf8(0).AppendBytes(str)
		typed.Int64(1).Append(int64(r)*1000 - 6)
	}
	for _, chunk := range [][][]byte{rows[:1], rows[1:17], rows[17:]} {
		if n, err := wired.AppendWireRows(chunk, cols); n != len(chunk) || err != nil {
			t.Fatalf("append: %d, %v", n, err)
		}
	}
	requireSameBuffers(t, wired, typed, 40)
	wired.Reset()
	_, err := wired.AppendWireRows([][]byte{rows[0], wireRow(nil, []byte{1})}, cols)
	if ce := (*ColumnError)(nil); !errors.As(err, &ce) || ce.Column != 1 || !errors.Is(err, errOdd) {
		t.Errorf("Fixed error: %v", err)
	}
	for _, bad := range [][]WireColumn{
		{{Kind: WireBytes}, {Kind: WireFixed}},
		{{Kind: WireFixed, Fixed: fixed}, {Kind: WireFixed, Fixed: fixed}},
	} {
		if err := wired.CheckWireColumns(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckWireColumns(%v) = %v", bad, err)
		}
	}
}

// TestAppendWireRowsVersionedBytes checks that a WireVersionedBytes
// column drops each field's version byte and rejects another version or an
// empty field.
func TestAppendWireRowsVersionedBytes(t *testing.T) {
	s, _ := NewSchema([]abi.Field{{Name: "j", Type: "utf8", Nullable: true}})
	cols := []WireColumn{{Kind: WireVersionedBytes, Version: 1}}
	wired, _ := NewBuilder(s, 100, 0)
	typed, _ := NewBuilder(s, 100, 0)
	if err := wired.CheckWireColumns(cols); err != nil {
		t.Fatal(err)
	}
	var rows [][]byte
	for r := range 30 {
		if r%4 == 2 {
			rows = append(rows, wireRow(nil))
			typed.Utf8(0).AppendNull()
			continue
		}
		v := bytes.Repeat([]byte{'{'}, r%6)
		rows = append(rows, wireRow(append([]byte{1}, v...)))
		typed.Utf8(0).AppendBytes(v)
	}
	if n, err := wired.AppendWireRows(rows, cols); n != len(rows) || err != nil {
		t.Fatalf("append: %d, %v", n, err)
	}
	requireSameBuffers(t, wired, typed, 30)
	for _, bad := range [][]byte{{}, {2, '{', '}'}} {
		wired.Reset()
		_, err := wired.AppendWireRows([][]byte{rows[0], wireRow(bad)}, cols)
		if ce := (*ColumnError)(nil); !errors.As(err, &ce) || ce.Column != 0 || !errors.Is(err, ErrWireVersion) {
			t.Errorf("field %x: %v", bad, err)
		}
	}
}

// BenchmarkAppendWireRows decodes the 6-column bench schema from wire rows.
func BenchmarkAppendWireRows(b *testing.B) {
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
		for r := 0; r < benchRows; r += len(rows) {
			if _, err := bl.AppendWireRows(rows, cols); err != nil {
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
		if err := appendRow(b, row, cols); err != nil {
			t.Fatal(err)
		}
		if est, exact := b.estimate(b.Rows()), b.ByteSize(); est < exact {
			t.Fatalf("row %d: estimate %d < ByteSize %d", r, est, exact)
		}
	}
}

// TestAppendWireRowsBytesLengths covers wireBytes' copies of every short
// length, as the first field of a row (no row bytes before it to read a
// word from) and after another field, in one call.
func TestAppendWireRowsBytesLengths(t *testing.T) {
	s, err := NewSchema([]abi.Field{{Name: "a", Type: "utf8", Nullable: true}, {Name: "b", Type: "binary", Nullable: true}})
	if err != nil {
		t.Fatal(err)
	}
	wired, _ := NewBuilder(s, 100, 0)
	typed, _ := NewBuilder(s, 100, 0)
	cols := []WireColumn{{Kind: WireBytes}, {Kind: WireBytes}}
	var rows [][]byte
	for l := -1; l <= 40; l++ {
		var v []byte
		if l >= 0 {
			v = make([]byte, l)
			for i := range v {
				v[i] = byte('a' + (l+i)%26)
			}
		}
		rows = append(rows, wireRow(v, v))
		for ci := range 2 {
			if v == nil {
				typed.Column(ci).AppendNull()
			} else {
				typed.Column(ci).Bytes().AppendBytes(v)
			}
		}
	}
	if n, err := wired.AppendWireRows(rows, cols); n != len(rows) || err != nil {
		t.Fatalf("append: %d, %v", n, err)
	}
	requireSameBuffers(t, wired, typed, len(rows))
}

// TestAppendWireRowsThenTypedNull checks that a column filled without
// nulls by AppendWireRows, which leaves its validity bits unset, gets them
// when a typed appender adds its first null.
func TestAppendWireRowsThenTypedNull(t *testing.T) {
	s, _ := NewSchema(wireFields[:6])
	wired, _ := NewBuilder(s, 64, 0)
	typed, _ := NewBuilder(s, 64, 0)
	var rows [][]byte
	for r := range 11 {
		rows = append(rows, wireRow(be64(int64(r)), []byte("ab"), be32(3), be64(4), be64(5), []byte{1}))
		typed.Int64(0).Append(int64(r))
		typed.Utf8(1).AppendString("ab")
		typed.Int32(2).Append(3)
		typed.Float64(3).Append(math.Float64frombits(4))
		typed.Timestamp(4).Append(5 + 1000)
		typed.Bool(5).Append(true)
	}
	if n, err := wired.AppendWireRows(rows, wireCols[:6]); n != len(rows) || err != nil {
		t.Fatalf("append: %d, %v", n, err)
	}
	for _, b := range []*Builder{wired, typed} {
		for ci := range 6 {
			b.Column(ci).AppendNull()
		}
	}
	requireSameBuffers(t, wired, typed, len(rows)+1)
}
