package pgarrow

import (
	"encoding/binary"
	"math"
	"testing"
)

// rawReader is a Reader over Arrow-layout buffers that also implements
// RawColumn; plainReader hides RawColumn, forcing the generic path.
type rawReader struct {
	width            int
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
	case KindText, KindBytes:
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
	kinds := []Kind{KindInt16, KindInt32, KindInt64, KindFloat64, KindTime, KindTimestamp, KindTimestampTZ, KindDate, KindBool, KindText, KindBytes}
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
