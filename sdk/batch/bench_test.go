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
