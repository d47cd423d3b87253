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
func (r *rawReader) NullCount() int  { return r.nulls }
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
func (r *rawReader) Decimal128(int) (uint64, uint64)        { return 0, 0 }
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
	default:
		w := map[Kind]int{KindInt16: 2, KindInt32: 4, KindDate: 4, KindInt64: 8, KindFloat64: 8, KindTime: 8, KindTimestamp: 8, KindTimestampTZ: 8}[k]
		for i := range n {
			x := next()
			if i == 3 && (k == KindTimestamp || k == KindTimestampTZ) {
				x = math.MaxInt64 // infinity sentinel
			}
			if i == 5 && k == KindDate {
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
	for _, nullEvery := range []int{0, 3} {
		types := make([]Type, len(kinds))
		raw := make([]Reader, len(kinds))
		plain := make([]Reader, len(kinds))
		for i, k := range kinds {
			types[i] = Type{Kind: k}
			r := newRawReader(k, n, nullEvery)
			raw[i], plain[i] = r, plainReader{r}
		}
		enc, err := NewEncoder(types, types)
		if err != nil {
			t.Fatal(err)
		}
		for c := range kinds {
			if enc.fast[c] == fastNone {
				t.Errorf("kind %v has no inline conversion", kinds[c])
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
			t.Fatalf("nullEvery %d: inline encoding differs from the generic one (%d vs %d bytes)", nullEvery, len(fast), len(slow))
		}
	}
}
