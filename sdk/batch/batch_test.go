package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

var allFields = []abi.Field{
	{Name: "i64", Type: "int64"},
	{Name: "s", Type: "utf8", Nullable: true},
	{Name: "f64", Type: "float64", Nullable: true},
	{Name: "b", Type: "bool", Nullable: true},
	{Name: "i32", Type: "int32"},
	{Name: "i16", Type: "int16"},
	{Name: "i8", Type: "int8"},
	{Name: "f32", Type: "float32"},
	{Name: "d", Type: "date32"},
	{Name: "ts", Type: "timestamp[us, UTC]"},
	{Name: "t", Type: "time64[us]"},
	{Name: "dec", Type: "decimal128(12, 2)", Nullable: true},
	{Name: "dec256", Type: "decimal256(40, 2)"},
	{Name: "iv", Type: "interval_mdn"},
	{Name: "bin", Type: "binary"},
	{Name: "l", Type: "list<utf8>", Nullable: true},
}

func mustSchema(t testing.TB, fields []abi.Field) *Schema {
	t.Helper()
	s, err := NewSchema(fields)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fill(b *Builder, first, n int) {
	for r := first; r < first+n; r++ {
		i := int64(r)
		b.Int64(0).Append(i * 3)
		if r%4 == 1 {
			b.Utf8(1).AppendNull()
		} else {
			b.Utf8(1).AppendString(fmt.Sprintf("v%d", r))
		}
		if r%5 == 0 {
			b.Float64(2).AppendNull()
		} else {
			b.Float64(2).Append(float64(r) / 4)
		}
		if r%6 == 0 {
			b.Bool(3).AppendNull()
		} else {
			b.Bool(3).Append(r%2 == 0)
		}
		b.Int32(4).Append(int32(-r))
		b.Int16(5).Append(int16(r))
		b.Int8(6).Append(int8(r))
		b.Float32(7).Append(float32(r) / 2)
		b.Date32(8).Append(int32(19000 + r))
		b.Timestamp(9).Append(1_700_000_000_000_000 + i)
		b.Time64(10).Append(i * 1000)
		if r%3 == 0 {
			b.Decimal128(11).AppendNull()
		} else {
			b.Decimal128(11).AppendInt64(-i * 100)
		}
		b.Decimal256(12).AppendInt64(i)
		b.IntervalMDN(13).Append(int32(r%12), int32(r%30), i*7)
		b.Binary(14).AppendBytes([]byte{byte(r), 0, byte(r >> 8)})
		l := b.List(15)
		if r%7 == 0 {
			l.AppendNull()
		} else {
			for k := 0; k < r%3; k++ {
				l.Elem().Bytes().AppendString(fmt.Sprintf("e%d.%d", r, k))
			}
			l.Append()
		}
	}
}

func check(t *testing.T, v *View, first int) {
	t.Helper()
	for row := 0; row < v.Rows(); row++ {
		r := first + row
		i := int64(r)
		errf := func(col string, got, want any) {
			t.Helper()
			t.Fatalf("row %d %s: got %v want %v", r, col, got, want)
		}
		if got := v.Column(0).Int64(row); got != i*3 {
			errf("i64", got, i*3)
		}
		s := v.Column(1)
		if s.IsNull(row) != (r%4 == 1) || !s.IsNull(row) && s.String(row) != fmt.Sprintf("v%d", r) {
			errf("s", s.String(row), fmt.Sprintf("v%d", r))
		}
		f := v.Column(2)
		if f.IsNull(row) != (r%5 == 0) || !f.IsNull(row) && f.Float64(row) != float64(r)/4 {
			errf("f64", f.Float64(row), float64(r)/4)
		}
		bc := v.Column(3)
		if bc.IsNull(row) != (r%6 == 0) || !bc.IsNull(row) && bc.Bool(row) != (r%2 == 0) {
			errf("b", bc.Bool(row), r%2 == 0)
		}
		if v.Column(4).Int32(row) != int32(-r) || v.Column(5).Int16(row) != int16(r) || v.Column(6).Int8(row) != int8(r) {
			errf("ints", v.Column(4).Int32(row), -r)
		}
		if v.Column(7).Float32(row) != float32(r)/2 || v.Column(8).Int32(row) != int32(19000+r) {
			errf("f32/date", v.Column(7).Float32(row), float32(r)/2)
		}
		if v.Column(9).Int64(row) != 1_700_000_000_000_000+i || v.Column(10).Int64(row) != i*1000 {
			errf("ts/time", v.Column(9).Int64(row), i)
		}
		dec := v.Column(11)
		if lo, hi := dec.Decimal128(row); dec.IsNull(row) != (r%3 == 0) || !dec.IsNull(row) && (int64(lo) != -i*100 || hi != (-i*100)>>63) {
			errf("dec", int64(lo), -i*100)
		}
		if w := v.Column(12).Decimal256(row); w[0] != uint64(i) || w[3] != 0 {
			errf("dec256", w, i)
		}
		if m, d, n := v.Column(13).IntervalMDN(row); m != int32(r%12) || d != int32(r%30) || n != i*7 {
			errf("iv", []int64{int64(m), int64(d), n}, i)
		}
		if p := v.Column(14).Bytes(row); len(p) != 3 || p[0] != byte(r) || p[2] != byte(r>>8) {
			errf("bin", p, r)
		}
		l := v.Column(15)
		if l.IsNull(row) != (r%7 == 0) {
			errf("l null", l.IsNull(row), r%7 == 0)
		}
		if !l.IsNull(row) {
			s, e := l.ListRange(row)
			if e-s != r%3 {
				errf("l len", e-s, r%3)
			}
			for k := s; k < e; k++ {
				if got := l.Elem().String(k); got != fmt.Sprintf("e%d.%d", r, k-s) {
					errf("l elem", got, fmt.Sprintf("e%d.%d", r, k-s))
				}
			}
		}
	}
}

func encode(t testing.TB, b *Builder, meta []byte) []byte {
	t.Helper()
	var frame []byte
	err := b.Layout(func(rows int, nodes []Node, bufs [][]byte) {
		frame = EncodeFrame(nil, rows, nodes, bufs, meta)
		if len(frame) != FrameSize(nodes, bufs, meta) {
			t.Fatalf("frame %d bytes, FrameSize %d", len(frame), FrameSize(nodes, bufs, meta))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func TestBuilderFrameViewRoundTrip(t *testing.T) {
	s := mustSchema(t, allFields)
	b, err := NewBuilder(s, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Three batches through one builder, the second larger than maxRows
	// (growth path), checks Reset.
	first := 0
	for _, n := range []int{64, 150, 7} {
		fill(b, first, n)
		if b.Rows() != n || (n >= 64) != b.Full() {
			t.Fatalf("rows %d full %v", b.Rows(), b.Full())
		}
		frame := encode(t, b, []byte(`{"id":1}`))
		v, err := ParseView(s, frame)
		if err != nil {
			t.Fatalf("batch at %d: %v", first, err)
		}
		if v.Rows() != n || string(v.Meta()) != `{"id":1}` {
			t.Fatalf("rows %d meta %q", v.Rows(), v.Meta())
		}
		check(t, v, first)
		// A view set from another view's layout reads the same rows and
		// reports that layout.
		rows, nodes, bufs := v.Layout()
		set := NewView(s)
		if err := set.Set(rows, nodes, bufs); err != nil {
			t.Fatal(err)
		}
		check(t, set, first)
		if r, nd, bf := set.Layout(); r != rows || len(nd) != len(nodes) || len(bf) != len(bufs) {
			t.Fatalf("Layout after Set: %d rows, %d nodes, %d buffers; want %d, %d, %d", r, len(nd), len(bf), rows, len(nodes), len(bufs))
		}
		b.Reset()
		first += n
	}
	if b.Rows() != 0 || b.ByteSize() != 0 {
		t.Errorf("after reset: rows %d bytes %d", b.Rows(), b.ByteSize())
	}
}

func TestFullByBytes(t *testing.T) {
	s := mustSchema(t, []abi.Field{{Name: "s", Type: "utf8"}})
	b, _ := NewBuilder(s, 1000, 100)
	for !b.Full() {
		b.Utf8(0).AppendString("0123456789")
	}
	if b.Rows() >= 1000 || b.ByteSize() < 100 {
		t.Errorf("rows %d bytes %d", b.Rows(), b.ByteSize())
	}
}

func TestLayoutRejectsRaggedColumns(t *testing.T) {
	s := mustSchema(t, []abi.Field{{Name: "a", Type: "int64"}, {Name: "b", Type: "int64"}})
	b, _ := NewBuilder(s, 10, 0)
	b.Int64(0).Append(1)
	if err := b.Layout(func(int, []Node, [][]byte) {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ragged layout: %v", err)
	}
}

func TestBigEndianFastPaths(t *testing.T) {
	s := mustSchema(t, []abi.Field{{Name: "a", Type: "int64"}, {Name: "ts", Type: "timestamp[us]"}, {Name: "d", Type: "date32"},
		{Name: "f", Type: "float64"}, {Name: "i16", Type: "int16"}, {Name: "f4", Type: "float32"}})
	b, _ := NewBuilder(s, 4, 0)
	be8 := binary.BigEndian.AppendUint64(nil, uint64(0x0102030405060708))
	if err := b.Int64(0).AppendBigEndian8(be8); err != nil {
		t.Fatal(err)
	}
	if err := b.Int64(0).AppendBigEndian8([]byte{1, 2}); !errors.Is(err, ErrValueLength) {
		t.Fatalf("short value: %v", err)
	}
	_ = b.Timestamp(1).AppendBigEndian8Plus(binary.BigEndian.AppendUint64(nil, 5), 946684800000000)
	_ = b.Date32(2).AppendBigEndian4Plus(binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF), 10957)
	_ = b.Float64(3).AppendBigEndian8(binary.BigEndian.AppendUint64(nil, math.Float64bits(2.5)))
	_ = b.Int16(4).AppendBigEndian2([]byte{0xff, 0xfe})
	_ = b.Float32(5).AppendBigEndian4(binary.BigEndian.AppendUint32(nil, math.Float32bits(-1.5)))
	v, err := ParseView(s, encode(t, b, nil))
	if err != nil {
		t.Fatal(err)
	}
	if v.Rows() != 1 || v.Column(0).Int64(0) != 0x0102030405060708 || v.Column(1).Int64(0) != 946684800000005 ||
		v.Column(2).Int32(0) != 10956 || v.Column(3).Float64(0) != 2.5 || v.Column(4).Int16(0) != -2 || v.Column(5).Float32(0) != -1.5 {
		t.Errorf("values %d %d %d %v %d %v", v.Column(0).Int64(0), v.Column(1).Int64(0), v.Column(2).Int32(0),
			v.Column(3).Float64(0), v.Column(4).Int16(0), v.Column(5).Float32(0))
	}
}

func TestParseFrameRejectsGarbage(t *testing.T) {
	s := mustSchema(t, []abi.Field{{Name: "s", Type: "utf8", Nullable: true}, {Name: "l", Type: "list<int32>"}})
	b, _ := NewBuilder(s, 8, 0)
	for r := 0; r < 3; r++ {
		if r == 1 {
			b.Utf8(0).AppendNull()
		} else {
			b.Utf8(0).AppendString("abc")
		}
		b.List(1).Elem().Int32().Append(int32(r))
		b.List(1).Append()
	}
	good := encode(t, b, nil)
	if _, err := ParseView(s, good); err != nil {
		t.Fatal(err)
	}
	word := func(f []byte, i int) uint32 { return binary.LittleEndian.Uint32(f[i*4:]) }
	put := func(f []byte, i int, v uint32) { binary.LittleEndian.PutUint32(f[i*4:], v) }
	// Header: magic, rows, nodes(3), bufs(7), 3 nodes, 7 buffers, meta.
	const bufBase = 4 + 2*3
	mut := []struct {
		name string
		f    func(f []byte) []byte
	}{
		{"truncated", func(f []byte) []byte { return f[:20] }},
		{"bad magic", func(f []byte) []byte { put(f, 0, 1); return f }},
		{"node count", func(f []byte) []byte { put(f, 2, 99); return f }},
		{"rows mismatch", func(f []byte) []byte { put(f, 1, 4); return f }},
		{"null count > length", func(f []byte) []byte { put(f, 5, 9); return f }},
		{"buffer beyond frame", func(f []byte) []byte { put(f, bufBase+2, uint32(len(f))); return f }},
		{"huge length", func(f []byte) []byte { put(f, bufBase+3, math.MaxUint32); return f }},
		{"decreasing offsets", func(f []byte) []byte {
			off := int(word(f, bufBase+2))
			binary.LittleEndian.PutUint32(f[off+4:], 3)
			binary.LittleEndian.PutUint32(f[off+8:], 1)
			return f
		}},
		{"offset past data", func(f []byte) []byte {
			off := int(word(f, bufBase+2))
			binary.LittleEndian.PutUint32(f[off+12:], 1000)
			return f
		}},
		{"list child too short", func(f []byte) []byte { put(f, 4+2*2, 1); return f }},
		{"missing validity", func(f []byte) []byte { put(f, bufBase+1, 0); return f }},
		{"meta out of range", func(f []byte) []byte { put(f, bufBase+2*7, uint32(len(f)+1)); put(f, bufBase+2*7+1, 1); return f }},
	}
	for _, m := range mut {
		t.Run(m.name, func(t *testing.T) {
			frame := m.f(append([]byte(nil), good...))
			if _, err := ParseView(s, frame); !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseView accepted it: %v", err)
			}
		})
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	s := mustSchema(t, []abi.Field{{Name: "s", Type: "utf8"}})
	nodes := []Node{{Length: 2}}
	bufs := [][]byte{nil, make([]byte, 12), []byte("ab")}
	words := AppendDescriptor(nil, 2, nodes, bufs, func(b []byte) uint32 { return uint32(len(b)) * 100 })
	raw := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(raw[i*4:], w)
	}
	rows, gotNodes, refs, err := DecodeDescriptor(raw, s, nil, nil)
	if err != nil || rows != 2 || gotNodes[0] != nodes[0] || refs[0] != (BufRef{}) || refs[1] != (BufRef{1200, 12}) || refs[2] != (BufRef{200, 2}) {
		t.Fatalf("%d %v %v %v", rows, gotNodes, refs, err)
	}
	if _, _, _, err := DecodeDescriptor(raw[:len(raw)-4], s, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("short descriptor: %v", err)
	}
}

func TestAppenderKindMismatchPanics(t *testing.T) {
	s := mustSchema(t, []abi.Field{{Name: "s", Type: "utf8"}})
	b, _ := NewBuilder(s, 8, 0)
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	b.Int64(0)
}

func TestDescent(t *testing.T) {
	for _, tc := range []struct {
		offs []int32
		want int
	}{
		{nil, 0},
		{[]int32{5}, 0},
		{[]int32{0, 0, 3, 3, 9}, 0},
		{[]int32{0, 4, 3, 9}, 2},
		{[]int32{0, 4, 9, 8}, 3},
		{[]int32{7, 6, 5}, 1},
		{[]int32{0, math.MaxInt32, math.MinInt32}, 2},
		{[]int32{math.MinInt32, math.MaxInt32}, 0},
	} {
		var b []byte
		for _, o := range tc.offs {
			b = binary.LittleEndian.AppendUint32(b, uint32(o))
		}
		if got := descent(b); got != tc.want {
			t.Errorf("descent(%v) = %d, want %d", tc.offs, got, tc.want)
		}
	}
}
