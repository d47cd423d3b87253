package batch

import (
	"encoding/binary"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

var benchFields = []abi.Field{
	{Name: "id", Type: "int64"}, {Name: "name", Type: "utf8", Nullable: true}, {Name: "qty", Type: "int32", Nullable: true},
	{Name: "price", Type: "float64", Nullable: true}, {Name: "created_at", Type: "timestamp[us, UTC]", Nullable: true},
	{Name: "active", Type: "bool", Nullable: true},
}

const benchRows = 65536

func fillBench(b *Builder) {
	name := []byte("0123456789012345678901234567890123456789")
	for r := 0; r < benchRows; r++ {
		b.Int64(0).Append(int64(r))
		if r%100 == 0 {
			b.Utf8(1).AppendNull()
		} else {
			b.Utf8(1).AppendBytes(name)
		}
		b.Int32(2).Append(int32(r))
		b.Float64(3).Append(float64(r))
		b.Timestamp(4).Append(int64(r))
		b.Bool(5).Append(r&1 == 0)
	}
}

// BenchmarkAppend measures typed appends of the 6-column bench schema.
func BenchmarkAppend(b *testing.B) {
	s, _ := NewSchema(benchFields)
	bl, _ := NewBuilder(s, benchRows, 0)
	b.ReportAllocs()
	for b.Loop() {
		fillBench(bl)
		bl.Reset()
	}
	b.ReportMetric(float64(b.N)*benchRows/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAppendBigEndian measures the PostgreSQL binary fast path.
func BenchmarkAppendBigEndian(b *testing.B) {
	s, _ := NewSchema([]abi.Field{{Name: "id", Type: "int64"}, {Name: "ts", Type: "timestamp[us]"}})
	bl, _ := NewBuilder(s, benchRows, 0)
	v := binary.BigEndian.AppendUint64(nil, 12345)
	for b.Loop() {
		for r := 0; r < benchRows; r++ {
			_ = bl.Int64(0).AppendBigEndian8(v)
			_ = bl.Timestamp(1).AppendBigEndian8Plus(v, 946684800000000)
		}
		bl.Reset()
	}
	b.ReportMetric(float64(b.N)*benchRows/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkFrameEncodeParse measures frame encoding plus validated view parsing.
func BenchmarkFrameEncodeParse(b *testing.B) {
	s, _ := NewSchema(benchFields)
	bl, _ := NewBuilder(s, benchRows, 0)
	fillBench(bl)
	var frame []byte
	v := NewView(s)
	b.ReportAllocs()
	for b.Loop() {
		_ = bl.Layout(func(rows int, nodes []Node, bufs [][]byte) {
			frame = EncodeFrame(frame[:0], rows, nodes, bufs, nil)
		})
		if err := v.Parse(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(frame)))
}

// wireBenchFields and wireBenchCols mirror the bench suite's bench_events
// table as source-postgres reads it (the numeric column as a fixed-width
// decimal128 converted a batch at a time).
var (
	wireBenchFields = []abi.Field{
		{Name: "id", Type: "int64"}, {Name: "event_type", Type: "utf8"}, {Name: "user_id", Type: "int32"},
		{Name: "amount", Type: "float64"}, {Name: "price", Type: "decimal128(12, 2)"}, {Name: "payload", Type: "utf8"},
		{Name: "created_at", Type: "timestamp[us, UTC]"}, {Name: "is_active", Type: "bool"},
	}
	wireBenchCols = []WireColumn{
		{Kind: WireBE64}, {Kind: WireBytes}, {Kind: WireBE32}, {Kind: WireBE64},
		{Kind: WireFixed, Fixed: func(dst []byte, fields WireFields) error {
			for r := range fields.Len() {
				if f := fields.Field(r); f != nil {
					dst[r*16] = byte(len(f))
				}
			}
			return nil
		}},
		{Kind: WireBytes}, {Kind: WireBE64Shift, Shift: 946684800000000}, {Kind: WireBool},
	}
)

// wireBenchRows returns n bench_events-like wire rows, contiguous in one
// buffer as DataRows are in the read buffer.
func wireBenchRows(n int) [][]byte {
	payload := []byte("c4ca4238a0b923820dcc509a6f75849bc81e728d9d4c2f636f067f89cc14862ceccbc87e4b5ce2fe28308fd9f2a7baf3")
	numeric := []byte{0, 2, 0, 0, 0, 0, 0, 2, 1, 149, 0, 3}
	var buf []byte
	ends := make([]int, n)
	for r := range n {
		buf = append(buf, wireRow(be64(int64(r)), []byte("purchase")[:4+r%5], be32(int32(r)), be64(int64(r)*3),
			numeric, payload, be64(int64(r)*1000000), []byte{byte(r & 1)})...)
		ends[r] = len(buf)
	}
	rows := make([][]byte, n)
	start := 0
	for r, end := range ends {
		rows[r] = buf[start:end:end]
		start = end
	}
	return rows
}

// BenchmarkAppendWireRowsEvents measures AppendWireRows on bench_events-like
// rows, given as StreamRows hands them over (a read buffer's worth, about
// 1,300 rows, per call).
func BenchmarkAppendWireRowsEvents(b *testing.B) {
	s, err := NewSchema(wireBenchFields)
	if err != nil {
		b.Fatal(err)
	}
	bl, _ := NewBuilder(s, benchRows, 0)
	if err := bl.CheckWireColumns(wireBenchCols); err != nil {
		b.Fatal(err)
	}
	const chunk = 1300
	rows := wireBenchRows(chunk)
	total := 0
	for b.Loop() {
		for pending := rows; len(pending) > 0; {
			n, err := bl.AppendWireRows(pending, wireBenchCols)
			if err != nil {
				b.Fatal(err)
			}
			if pending = pending[n:]; len(pending) > 0 || bl.Full() {
				bl.Reset()
			}
		}
		total += chunk
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/row")
}
