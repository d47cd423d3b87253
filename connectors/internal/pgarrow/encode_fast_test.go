package pgarrow

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/wirefields/wirefieldstest"
)

// rawReader is a Reader over Arrow-layout buffers that also implements
// RawColumn; plainReader hides RawColumn, forcing the generic path.
type rawReader struct {
	validity, values []byte
	offsets          []byte
	nulls            int
}

type plainReader struct{ Reader }

func (r *rawReader) Values() []byte  { return r.values }
func (r *rawReader) Offsets() []byte { return r.offsets }
func (r *rawReader) Validity() []byte {
	if r.nulls == 0 {
		return nil
	}
	return r.validity
}
func (r *rawReader) IsNull(i int) bool {
	return r.nulls > 0 && r.validity[i>>3]&(1<<(uint(i)&7)) == 0
}
func (r *rawReader) Bool(i int) bool   { return r.values[i>>3]&(1<<(uint(i)&7)) != 0 }
func (r *rawReader) Int16(i int) int16 { return int16(binary.LittleEndian.Uint16(r.values[i*2:])) }
func (r *rawReader) Int32(i int) int32 { return int32(binary.LittleEndian.Uint32(r.values[i*4:])) }
func (r *rawReader) Int64(i int) int64 { return int64(binary.LittleEndian.Uint64(r.values[i*8:])) }
func (r *rawReader) Float32(i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(r.values[i*4:]))
}
func (r *rawReader) Float64(i int) float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(r.values[i*8:]))
}
func (r *rawReader) Bytes(i int) []byte {
	s, e := binary.LittleEndian.Uint32(r.offsets[i*4:]), binary.LittleEndian.Uint32(r.offsets[i*4+4:])
	return r.values[s:e]
}
func (r *rawReader) Decimal128(i int) (uint64, uint64) {
	return binary.LittleEndian.Uint64(r.values[i*16:]), binary.LittleEndian.Uint64(r.values[i*16+8:])
}
func (r *rawReader) Decimal256(int) [4]uint64               { return [4]uint64{} }
func (r *rawReader) MonthDayNano(int) (int32, int32, int64) { return 0, 0, 0 }
func (r *rawReader) ElemReader() Reader                     { return nil }
func (r *rawReader) ListRange(int) (int, int)               { return 0, 0 }

// newRawReader builds a column of n values of kind k, every nullEvery-th
// one null (0 = none).
func newRawReader(k Kind, n, nullEvery int) *rawReader {
	r := &rawReader{validity: make([]byte, n/8+1)}
	for i := range n {
		if nullEvery > 0 && i%nullEvery == 0 {
			r.nulls++
		} else {
			r.validity[i>>3] |= 1 << (uint(i) & 7)
		}
	}
	v := uint64(0x0123456789abcdef)
	next := func() uint64 { v = v*6364136223846793005 + 1442695040888963407; return v }
	switch k {
	case KindBool:
		r.values = make([]byte, n/8+1)
		for i := range n {
			if next()&1 == 1 {
				r.values[i>>3] |= 1 << (uint(i) & 7)
			}
		}
	case KindText, KindBytes, KindJSONB:
		r.offsets = binary.LittleEndian.AppendUint32(nil, 0)
		for i := range n {
			for range i % 13 {
				r.values = append(r.values, byte('a'+next()%26))
			}
			r.offsets = binary.LittleEndian.AppendUint32(r.offsets, uint32(len(r.values)))
		}
	case KindDecimal128:
		// Small and large magnitudes of both signs, zeros and values
		// that need the 128-bit path.
		for i := range n {
			var lo, hi uint64
			switch x := next(); i % 8 {
			case 0:
				lo = 0
			case 1:
				lo = x % 100_000
			case 2:
				lo = uint64(-int64(x % 1_000_000_000))
			case 3:
				lo = x >> 1
			case 4:
				lo = uint64(-int64(x >> 1))
			case 5:
				lo = 1 << 63 // MinInt64: 128-bit path
				hi = ^uint64(0)
			case 6:
				lo, hi = x, 12345 // 128-bit path
			case 7:
				lo = pow10u64[i%19] * (x % 10)
			}
			r.values = binary.LittleEndian.AppendUint64(r.values, lo)
			r.values = binary.LittleEndian.AppendUint64(r.values, hi)
		}
	default:
		w := map[Kind]int{KindInt16: 2, KindInt32: 4, KindDate: 4, KindInt64: 8, KindFloat64: 8, KindTime: 8, KindTimestamp: 8, KindTimestampTZ: 8}[k]
		for i := range n {
			x := next()
			if i%50 == 13 && (k == KindTimestamp || k == KindTimestampTZ) {
				x = math.MaxInt64 // infinity sentinel
			}
			if i%50 == 15 && k == KindDate {
				x = 0x80000000 // date -infinity (math.MinInt32)
			}
			r.values = binary.LittleEndian.AppendUint64(r.values, x)[:(i+1)*w]
		}
	}
	return r
}

func TestAppendRowsRawMatchesGeneric(t *testing.T) {
	kinds := []Kind{KindInt16, KindInt32, KindInt64, KindFloat64, KindTime, KindTimestamp, KindTimestampTZ, KindDate, KindBool, KindText, KindBytes, KindJSONB}
	const n = 100
	decScales := []int{0, 1, 2, 4, 5, 9, 16}
	for _, tc := range []struct{ nullEvery, wideEvery int }{{0, 0}, {3, 0}, {0, 1}, {3, 1}, {0, 64}} {
		nullEvery := tc.nullEvery
		types := make([]Type, len(kinds), len(kinds)+len(decScales))
		raw := make([]Reader, len(kinds), len(kinds)+len(decScales))
		plain := make([]Reader, len(kinds), len(kinds)+len(decScales))
		for i, k := range kinds {
			types[i] = Type{Kind: k}
			r := newRawReader(k, n, nullEvery)
			raw[i], plain[i] = r, plainReader{r}
		}
		for _, scale := range decScales {
			types = append(types, Type{Kind: KindDecimal128, Precision: 38, Scale: scale})
			r := newRawReader(KindDecimal128, n, nullEvery)
			narrowDecimals(r, tc.wideEvery)
			raw, plain = append(raw, r), append(plain, plainReader{r})
		}
		enc, err := NewEncoder(types, types)
		if err != nil {
			t.Fatal(err)
		}
		for c := range types {
			if enc.fast[c] == fastNone {
				t.Errorf("type %+v has no inline conversion", types[c])
			}
		}
		fast, err := enc.AppendRows(nil, raw, 10, n)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := enc.AppendRows(nil, plain, 10, n)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := plain[0].(RawColumn); ok {
			t.Fatal("plainReader must not implement RawColumn")
		}
		if string(fast) != string(slow) {
			t.Fatalf("%+v: inline encoding differs from the generic one (%d vs %d bytes)", tc, len(fast), len(slow))
		}
	}
}

// narrowDecimals replaces the decimal128 values of r that do not fit 64
// bits, except every keep-th row (0: all), by small ones: a batch whose
// decimals all fit is encoded column by column (appendColumns), one with a
// wide value row by row.
func narrowDecimals(r *rawReader, keep int) {
	for i := 0; i*16 < len(r.values); i++ {
		lo, hi := r.Decimal128(i)
		if hi != uint64(int64(lo)>>63) || int64(lo) == math.MinInt64 {
			if keep == 0 || i%keep != 0 {
				binary.LittleEndian.PutUint64(r.values[i*16:], uint64(i)*7919)
				binary.LittleEndian.PutUint64(r.values[i*16+8:], 0)
			}
		}
	}
}

// fuzzSource hands out the bytes of a fuzz input, then zeros.
type fuzzSource struct{ b []byte }

func (s *fuzzSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzSource) uint64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(s.byte())
	}
	return v
}

// fuzzKinds are the column kinds with an inline conversion.
var fuzzKinds = []Kind{KindInt16, KindInt32, KindInt64, KindFloat64, KindTime, KindTimestamp, KindTimestampTZ, KindDate, KindBool, KindText, KindBytes, KindJSONB, KindDecimal128, KindNumericText}

// fuzzColumns builds up to 6 columns of rows values from s: kinds, NULLs
// (with data behind them), string lengths and the decimal magnitudes are
// all drawn from s.
func fuzzColumns(s *fuzzSource, rows int) ([]Type, []Reader) {
	ncol := 1 + int(s.byte())%6
	types := make([]Type, ncol)
	cols := make([]Reader, ncol)
	for c := range cols {
		k := fuzzKinds[int(s.byte())%len(fuzzKinds)]
		types[c] = Type{Kind: k}
		r := &rawReader{validity: make([]byte, rows/8+1)}
		nullEvery := int(s.byte()) % 5 // 0: no nulls
		for i := range rows {
			if nullEvery > 0 && (i*7+c)%(nullEvery+1) == 0 {
				r.nulls++
			} else {
				r.validity[i>>3] |= 1 << (uint(i) & 7)
			}
		}
		switch k {
		case KindBool:
			r.values = make([]byte, rows/8+1)
			for i := range r.values {
				r.values[i] = s.byte()
			}
		case KindText, KindBytes, KindJSONB:
			r.offsets = binary.LittleEndian.AppendUint32(nil, 0)
			for range rows {
				n := int(s.byte())
				if n >= 160 {
					n = (n - 160) * 7 // up to 665 bytes
				} else {
					n %= 40
				}
				for range n {
					r.values = append(r.values, 'a'+byte(len(r.values)%26))
				}
				r.offsets = binary.LittleEndian.AppendUint32(r.offsets, uint32(len(r.values)))
			}
		case KindNumericText:
			r.offsets = binary.LittleEndian.AppendUint32(nil, 0)
			for range rows {
				r.values = append(r.values, randomNumericText(s.uint64())...)
				r.offsets = binary.LittleEndian.AppendUint32(r.offsets, uint32(len(r.values)))
			}
		case KindDecimal128:
			types[c] = Type{Kind: k, Precision: 38, Scale: int(s.byte()) % 17}
			for range rows {
				v := s.uint64()
				var lo, hi uint64
				switch v >> 61 {
				case 0:
					lo = v & 0xffff
				case 1:
					lo = v & 0xffffffffff
				case 2:
					lo = pow10u64[v%20] * (v >> 32 % 10000)
				case 3:
					lo = v << 3
				case 4:
					lo = []uint64{0, 1 << 63, 1<<63 - 1, 1, ^uint64(0)}[v%5]
				default:
					lo = v << 3 >> (v % 64)
				}
				if v&(1<<60) != 0 {
					lo = -lo
				}
				hi = uint64(int64(lo) >> 63)
				if v%97 == 0 {
					hi ^= 1 // beyond 64 bits: the row path
				}
				r.values = binary.LittleEndian.AppendUint64(r.values, lo)
				r.values = binary.LittleEndian.AppendUint64(r.values, hi)
			}
		default:
			w := map[Kind]int{KindInt16: 2, KindInt32: 4, KindDate: 4, KindInt64: 8, KindFloat64: 8, KindTime: 8, KindTimestamp: 8, KindTimestampTZ: 8}[k]
			for range rows {
				v := s.uint64()
				switch v % 11 {
				case 0:
					v = math.MaxInt64
				case 1:
					v = 1 << 63
				case 2:
					v = math.MaxInt32
				case 3:
					v = 1 << 31
				}
				r.values = binary.LittleEndian.AppendUint64(r.values, v)[:len(r.values)+w]
			}
		}
		cols[c] = r
	}
	return types, cols
}

// checkRawMatchesGeneric encodes rows [from, to) of cols through the
// inline conversions and through the generic ones and compares, appending
// to a non-empty buffer.
func checkRawMatchesGeneric(t *testing.T, types []Type, cols []Reader, from, to int) {
	t.Helper()
	enc, err := NewEncoder(types, types)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]Reader, len(cols))
	for c, r := range cols {
		plain[c] = plainReader{r}
	}
	prefix := []byte("prefix")
	fast, err := enc.AppendRows(append([]byte(nil), prefix...), cols, from, to)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := enc.AppendRows(append([]byte(nil), prefix...), plain, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if string(fast) != string(slow) {
		i := 0
		for i < min(len(fast), len(slow)) && fast[i] == slow[i] {
			i++
		}
		t.Fatalf("%v rows [%d, %d): inline encoding differs from the generic one at byte %d (%d vs %d bytes)", types, from, to, i, len(fast), len(slow))
	}
}

func TestAppendRowsRawEdgeCases(t *testing.T) {
	// Strings of every length class, the short ones at the very start
	// of the data buffer too, and NULLs with data behind them.
	lengths := []int{5, 0, 7, 3, 4, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 63, 64, 65, 96, 100, 300, 1, 2, 6}
	text := &rawReader{validity: make([]byte, 8), offsets: binary.LittleEndian.AppendUint32(nil, 0)}
	for i, n := range lengths {
		for k := range n {
			text.values = append(text.values, byte(i*7+k))
		}
		text.offsets = binary.LittleEndian.AppendUint32(text.offsets, uint32(len(text.values)))
		if i%5 == 3 {
			text.nulls++
		} else {
			text.validity[i>>3] |= 1 << (uint(i) & 7)
		}
	}
	noNulls := *text
	noNulls.nulls = 0
	// Decimals of every digit count, with trailing and leading zero
	// digits, both signs, and magnitudes past the padded 64-bit range.
	var decs []uint64
	for e := range 19 {
		for _, m := range []uint64{1, 3, 9, 7919} {
			if v := pow10u64[e] * m; v/m == pow10u64[e] && v < 1<<63 {
				decs = append(decs, v, -v, v-1, v+1)
			}
		}
	}
	decs = append(decs, 0, 1<<63-1, 1<<63+1, 1844674407370955161, 1844674407370955162, 184467440737095516, 18446744073709552)
	dec := &rawReader{validity: make([]byte, len(decs)/8+1)}
	for i, v := range decs {
		dec.values = binary.LittleEndian.AppendUint64(dec.values, v)
		dec.values = binary.LittleEndian.AppendUint64(dec.values, uint64(int64(v)>>63))
		dec.validity[i>>3] |= 1 << (uint(i) & 7)
	}
	n := len(lengths)
	// No rows.
	checkRawMatchesGeneric(t, []Type{{Kind: KindInt64}, {Kind: KindText}, {Kind: KindDecimal128, Scale: 2}, {Kind: KindBool}},
		[]Reader{newRawReader(KindInt64, n, 0), text, dec, newRawReader(KindBool, n, 0)}, 5, 5)
	for _, tc := range []struct {
		name  string
		types []Type
		cols  []Reader
		rows  int
	}{
		{"text", []Type{{Kind: KindText}}, []Reader{text}, n},
		{"text no nulls", []Type{{Kind: KindText}}, []Reader{&noNulls}, n},
		{"text last", []Type{{Kind: KindInt64}, {Kind: KindText}}, []Reader{newRawReader(KindInt64, n, 4), text}, n},
		{"text first", []Type{{Kind: KindBytes}, {Kind: KindBool}}, []Reader{text, newRawReader(KindBool, n, 3)}, n},
		{"jsonb", []Type{{Kind: KindJSONB}}, []Reader{text}, n},
		{"jsonb no nulls", []Type{{Kind: KindJSONB}, {Kind: KindText}}, []Reader{&noNulls, &noNulls}, n},
		{"jsonb last", []Type{{Kind: KindInt32}, {Kind: KindJSONB}}, []Reader{newRawReader(KindInt32, n, 0), text}, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for from := range 3 {
				checkRawMatchesGeneric(t, tc.types, tc.cols, from, tc.rows)
			}
		})
	}
	for scale := range 17 {
		types := []Type{{Kind: KindDecimal128, Precision: 38, Scale: scale}, {Kind: KindInt32}}
		checkRawMatchesGeneric(t, types, []Reader{dec, newRawReader(KindInt32, len(decs), 0)}, 0, len(decs))
		// A NULL decimal beyond 64 bits stays on the column path.
		wide := *dec
		wide.values = append([]byte(nil), dec.values...)
		wide.validity = append([]byte(nil), dec.validity...)
		binary.LittleEndian.PutUint64(wide.values[8:], 77)
		wide.validity[0] &^= 1
		wide.nulls = 1
		checkRawMatchesGeneric(t, types[:1], []Reader{&wide}, 0, len(decs))
	}
}

func FuzzAppendRowsRaw(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x05\x03\x09\x01\x0b\x02\x0c\x00\x07\x04\xa0\xff\x10\x20\x30\x40"))
	f.Add(bytes.Repeat([]byte{0xb7, 0x11, 0x03, 0xfe, 0x42}, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &fuzzSource{b: data}
		rows := 1 + int(s.byte())%200
		from := int(s.byte()) % rows
		types, cols := fuzzColumns(s, rows)
		checkRawMatchesGeneric(t, types, cols, from, rows)
	})
}

// TestAppendRowsRawEmptyAtDataEnd encodes empty and NULL strings whose
// offset is the end of the data buffer: the column path must not form a
// pointer past the buffer (go test -race or -gcflags=all=-d=checkptr
// reports one).
func TestAppendRowsRawEmptyAtDataEnd(t *testing.T) {
	for _, k := range []Kind{KindText, KindJSONB} {
		r := &rawReader{validity: []byte{0b1011}, nulls: 1, values: []byte("abcdefghij")}
		for _, o := range []uint32{0, 10, 10, 10, 10} {
			r.offsets = binary.LittleEndian.AppendUint32(r.offsets, o)
		}
		checkRawMatchesGeneric(t, []Type{{Kind: k}}, []Reader{r}, 0, 4)
		checkRawMatchesGeneric(t, []Type{{Kind: k}}, []Reader{r}, 1, 4)
	}
}

// TestAppendRowsInHost runs the encoder's tests again with the column
// loops run by the host's code (sdk/wirefields over the wire_rows import,
// as in a wasm guest on a current host): the tuples must be the same
// bytes.
func TestAppendRowsInHost(t *testing.T) {
	ran := wirefieldstest.UseHost(t)
	t.Run("matches generic", TestAppendRowsRawMatchesGeneric)
	t.Run("edge cases", TestAppendRowsRawEdgeCases)
	t.Run("empty at data end", TestAppendRowsRawEmptyAtDataEnd)
	t.Run("numeric text column", TestNumericTextColumnPath)
	if ran() == 0 {
		t.Fatal("the host ran no loop")
	}
}
