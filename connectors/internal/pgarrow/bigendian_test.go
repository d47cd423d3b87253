package pgarrow

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestAppendBEMatchesBinary(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xff, 0x0102030405060708, math.MaxUint64, 1 << 63} {
		for _, spare := range []int{0, 1, 3, 8, 64} {
			prefix := []byte{0xaa, 0xbb}
			mk := func() []byte { return append(make([]byte, 0, len(prefix)+spare), prefix...) }
			if got, want := appendBE16(mk(), uint16(v)), binary.BigEndian.AppendUint16(mk(), uint16(v)); string(got) != string(want) {
				t.Errorf("appendBE16(%#x, spare %d) = %x, want %x", v, spare, got, want)
			}
			if got, want := appendBE32(mk(), uint32(v)), binary.BigEndian.AppendUint32(mk(), uint32(v)); string(got) != string(want) {
				t.Errorf("appendBE32(%#x, spare %d) = %x, want %x", v, spare, got, want)
			}
			if got, want := appendBE64(mk(), v), binary.BigEndian.AppendUint64(mk(), v); string(got) != string(want) {
				t.Errorf("appendBE64(%#x, spare %d) = %x, want %x", v, spare, got, want)
			}
		}
	}
}

// benchReader is an in-memory Reader of the bench_events columns.
type benchReader struct {
	i64  []int64
	i32  []int32
	f64  []float64
	b    []bool
	text [][]byte
	d128 []uint64
}

func (r *benchReader) IsNull(int) bool                        { return false }
func (r *benchReader) Bool(i int) bool                        { return r.b[i] }
func (r *benchReader) Int16(i int) int16                      { return int16(r.i32[i]) }
func (r *benchReader) Int32(i int) int32                      { return r.i32[i] }
func (r *benchReader) Int64(i int) int64                      { return r.i64[i] }
func (r *benchReader) Float32(i int) float32                  { return float32(r.f64[i]) }
func (r *benchReader) Float64(i int) float64                  { return r.f64[i] }
func (r *benchReader) Bytes(i int) []byte                     { return r.text[i] }
func (r *benchReader) Decimal128(i int) (uint64, uint64)      { return r.d128[i], 0 }
func (r *benchReader) Decimal256(i int) [4]uint64             { return [4]uint64{r.d128[i]} }
func (r *benchReader) MonthDayNano(int) (int32, int32, int64) { return 0, 0, 0 }
func (r *benchReader) ElemReader() Reader                     { return nil }
func (r *benchReader) ListRange(int) (int, int)               { return 0, 0 }
func (r *benchReader) Len() int                               { return len(r.i64) }

// BenchmarkEncodeRows measures Arrow -> COPY binary encoding of the
// bench_events shape (bigint, text, int, float8, numeric(12,2), 100-char
// text, timestamptz, bool), the destination's per-value hot path, for all
// columns and for each alone.
func BenchmarkEncodeRows(b *testing.B) {
	const rows = 16384
	r := &benchReader{}
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	for i := range rows {
		r.i64 = append(r.i64, int64(i)*1_000_003)
		r.i32 = append(r.i32, int32(i))
		r.f64 = append(r.f64, float64(i)/7)
		r.b = append(r.b, i%3 == 0)
		r.text = append(r.text, payload[:5+i%4])
		r.d128 = append(r.d128, uint64(i)*101)
	}
	typmod := int32(12<<16|2) + 4
	pg := []PGType{{OID: OIDInt8}, {OID: OIDText}, {OID: OIDInt4}, {OID: OIDFloat8},
		{OID: OIDNumeric, Typmod: typmod}, {OID: OIDText}, {OID: OIDTimestampTZ}, {OID: OIDBool}}
	types := make([]Type, len(pg))
	for i, p := range pg {
		types[i] = FromPG(p)
	}
	long := &benchReader{i64: r.i64, i32: r.i32, f64: r.f64, b: r.b, d128: r.d128}
	for range rows {
		long.text = append(long.text, payload)
	}
	cols := []Reader{r, r, r, r, r, long, r, r}
	names := []string{"int8", "text", "int4", "float8", "numeric", "text100", "timestamptz", "bool"}
	run := func(b *testing.B, types []Type, cols []Reader) {
		enc, err := NewEncoder(types, types)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 8<<20)
		for b.Loop() {
			if buf, err = enc.AppendRows(buf[:0], cols, 0, rows); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	}
	b.Run("all", func(b *testing.B) { run(b, types, cols) })
	// The same shape over Arrow buffers (RawColumn), as in the destination.
	rawCols := make([]Reader, len(types))
	for i, t := range types {
		switch {
		case fastKindFor(&t, &t) == fastNone:
			rawCols[i] = cols[i]
		case t.Kind == KindDecimal128:
			d := &rawReader{}
			for _, v := range r.d128 {
				d.values = binary.LittleEndian.AppendUint64(d.values, v)
				d.values = binary.LittleEndian.AppendUint64(d.values, 0)
			}
			rawCols[i] = d
		case t.Kind == KindText:
			d := &rawReader{offsets: binary.LittleEndian.AppendUint32(nil, 0)}
			for _, v := range cols[i].(*benchReader).text {
				d.values = append(d.values, v...)
				d.offsets = binary.LittleEndian.AppendUint32(d.offsets, uint32(len(d.values)))
			}
			rawCols[i] = d
		default:
			rawCols[i] = newRawReader(t.Kind, rows, 0)
		}
	}
	b.Run("all-raw", func(b *testing.B) { run(b, types, rawCols) })
	for i, name := range names {
		b.Run("raw-"+name, func(b *testing.B) { run(b, types[i:i+1], rawCols[i:i+1]) })
	}
	for i, name := range names {
		b.Run(name, func(b *testing.B) { run(b, types[i:i+1], cols[i:i+1]) })
	}
}
