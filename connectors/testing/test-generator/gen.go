package main

import (
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// column is one generated column: its field, how to append row i and how
// to check row i of a received batch.
type column struct {
	field  abi.Field
	append func(b batch.Column, i int64)
	check  func(c *batch.ColumnView, row int, i int64) error
}

const tsBase = int64(1_700_000_000_000_000)

func nullAt(i, every, phase int64) bool { return i%every == phase }

func mismatch(name string, i int64, got, want any) error {
	return fmt.Errorf("row id %d column %s: got %v, want %v", i, name, got, want)
}

// columns are the generator's columns, in catalog order; values are a
// pure function of the row id.
var columns = []column{
	{
		field:  abi.Field{Name: "id", Type: "int64", Nullable: false, SourceType: "bigint"},
		append: func(b batch.Column, i int64) { b.Int64().Append(i) },
		check: func(c *batch.ColumnView, r int, i int64) error {
			if c.IsNull(r) || c.Int64(r) != i {
				return mismatch("id", i, c.Int64(r), i)
			}
			return nil
		},
	},
	{
		field: abi.Field{Name: "name", Type: "utf8", Nullable: true, SourceType: "text"},
		append: func(b batch.Column, i int64) {
			if nullAt(i, 7, 3) {
				b.AppendNull()
				return
			}
			b.Bytes().AppendBytes(appendName(nameBuf[:0], i))
		},
		check: func(c *batch.ColumnView, r int, i int64) error {
			if nullAt(i, 7, 3) != c.IsNull(r) {
				return mismatch("name(null)", i, c.IsNull(r), nullAt(i, 7, 3))
			}
			if !c.IsNull(r) && string(c.Bytes(r)) != string(appendName(checkBuf[:0], i)) {
				return mismatch("name", i, c.String(r), nameOf(i))
			}
			return nil
		},
	},
	{
		field:  abi.Field{Name: "qty", Type: "int32", Nullable: false},
		append: func(b batch.Column, i int64) { b.Int32().Append(int32(i % 1000)) },
		check: func(c *batch.ColumnView, r int, i int64) error {
			if c.Int32(r) != int32(i%1000) {
				return mismatch("qty", i, c.Int32(r), i%1000)
			}
			return nil
		},
	},
	{
		field:  abi.Field{Name: "score", Type: "float64", Nullable: false},
		append: func(b batch.Column, i int64) { b.Float64().Append(float64(i) * 0.5) },
		check: func(c *batch.ColumnView, r int, i int64) error {
			if c.Float64(r) != float64(i)*0.5 {
				return mismatch("score", i, c.Float64(r), float64(i)*0.5)
			}
			return nil
		},
	},
	{
		field:  abi.Field{Name: "created_at", Type: "timestamp[us, UTC]", Nullable: false, SourceType: "timestamptz"},
		append: func(b batch.Column, i int64) { b.Int64().Append(tsBase + i*1000) },
		check: func(c *batch.ColumnView, r int, i int64) error {
			if c.Int64(r) != tsBase+i*1000 {
				return mismatch("created_at", i, c.Int64(r), tsBase+i*1000)
			}
			return nil
		},
	},
	{
		field: abi.Field{Name: "active", Type: "bool", Nullable: true},
		append: func(b batch.Column, i int64) {
			if nullAt(i, 17, 1) {
				b.AppendNull()
				return
			}
			b.Bool().Append(i%3 == 0)
		},
		check: func(c *batch.ColumnView, r int, i int64) error {
			if nullAt(i, 17, 1) != c.IsNull(r) || !c.IsNull(r) && c.Bool(r) != (i%3 == 0) {
				return mismatch("active", i, c.Bool(r), i%3 == 0)
			}
			return nil
		},
	},
	{
		field: abi.Field{Name: "amount", Type: "decimal128(12, 2)", Nullable: true, SourceType: "numeric(12,2)"},
		append: func(b batch.Column, i int64) {
			if nullAt(i, 11, 5) {
				b.AppendNull()
				return
			}
			b.Decimal128().AppendInt64(i*101 - 5000)
		},
		check: func(c *batch.ColumnView, r int, i int64) error {
			if nullAt(i, 11, 5) != c.IsNull(r) {
				return mismatch("amount(null)", i, c.IsNull(r), nullAt(i, 11, 5))
			}
			if lo, hi := c.Decimal128(r); !c.IsNull(r) && (int64(lo) != i*101-5000 || hi != (i*101-5000)>>63) {
				return mismatch("amount", i, int64(lo), i*101-5000)
			}
			return nil
		},
	},
	{
		field:  abi.Field{Name: "day", Type: "date32", Nullable: false},
		append: func(b batch.Column, i int64) { b.Int32().Append(int32(19000 + i%365)) },
		check: func(c *batch.ColumnView, r int, i int64) error {
			if c.Int32(r) != int32(19000+i%365) {
				return mismatch("day", i, c.Int32(r), 19000+i%365)
			}
			return nil
		},
	},
	{
		field: abi.Field{Name: "tags", Type: "list<int32>", Nullable: true},
		append: func(b batch.Column, i int64) {
			l := b.List()
			if nullAt(i, 13, 0) {
				l.AppendNull()
				return
			}
			e := l.Elem().Int32()
			for k := int64(0); k < i%4; k++ {
				e.Append(int32(i + k))
			}
			l.Append()
		},
		check: func(c *batch.ColumnView, r int, i int64) error {
			if nullAt(i, 13, 0) != c.IsNull(r) {
				return mismatch("tags(null)", i, c.IsNull(r), nullAt(i, 13, 0))
			}
			if c.IsNull(r) {
				return nil
			}
			s, e := c.ListRange(r)
			if int64(e-s) != i%4 {
				return mismatch("tags(len)", i, e-s, i%4)
			}
			for k := s; k < e; k++ {
				if c.Elem().Int32(k) != int32(i+int64(k-s)) {
					return mismatch("tags", i, c.Elem().Int32(k), i+int64(k-s))
				}
			}
			return nil
		},
	},
	{
		field:  abi.Field{Name: "span", Type: "interval_mdn", Nullable: false},
		append: func(b batch.Column, i int64) { b.IntervalMDN().Append(int32(i%12), int32(i%28), i*1000) },
		check: func(c *batch.ColumnView, r int, i int64) error {
			m, d, n := c.IntervalMDN(r)
			if m != int32(i%12) || d != int32(i%28) || n != i*1000 {
				return mismatch("span", i, []int64{int64(m), int64(d), n}, []int64{i % 12, i % 28, i * 1000})
			}
			return nil
		},
	},
	{
		field: abi.Field{Name: "payload", Type: "binary", Nullable: true},
		append: func(b batch.Column, i int64) {
			if nullAt(i, 5, 2) {
				b.AppendNull()
				return
			}
			b.Bytes().AppendBytes([]byte{byte(i), byte(i >> 8), 0xff})
		},
		check: func(c *batch.ColumnView, r int, i int64) error {
			if nullAt(i, 5, 2) != c.IsNull(r) {
				return mismatch("payload(null)", i, c.IsNull(r), nullAt(i, 5, 2))
			}
			if p := c.Bytes(r); !c.IsNull(r) && (len(p) != 3 || p[0] != byte(i) || p[1] != byte(i>>8)) {
				return mismatch("payload", i, p, []byte{byte(i), byte(i >> 8), 0xff})
			}
			return nil
		},
	},
}

func nameOf(i int64) string { return string(appendName(nil, i)) }

// nameBuf is the source's scratch buffer for names (one goroutine).
var nameBuf = make([]byte, 0, 32)

// checkBuf is the destination's scratch buffer for expected names.
var checkBuf = make([]byte, 0, 32)

// appendName appends "name-%08d" of i without fmt (hot path in wasm).
func appendName(dst []byte, i int64) []byte {
	dst = append(dst, "name-"...)
	var digits [20]byte
	n := len(digits)
	for v := uint64(i); v > 0 || n > len(digits)-8; v /= 10 {
		n--
		digits[n] = byte('0' + v%10)
	}
	return append(dst, digits[n:]...)
}

// selectColumns returns the named columns (all when names is empty); "id"
// is always first.
func selectColumns(names []string) ([]column, error) {
	if len(names) == 0 {
		return columns, nil
	}
	out := []column{columns[0]}
	for _, n := range names {
		if n == "id" {
			continue
		}
		found := false
		for _, c := range columns {
			if c.field.Name == n {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown column %q", n)
		}
	}
	return out, nil
}

// columnsOf maps a received schema to generator columns by name.
func columnsOf(s *batch.Schema) ([]column, error) {
	out := make([]column, len(s.Fields))
	for i, f := range s.Fields {
		found := false
		for _, c := range columns {
			if c.field.Name == f.Name {
				if c.field.Type != f.Type {
					return nil, fmt.Errorf("column %q has type %s, want %s", f.Name, f.Type, c.field.Type)
				}
				out[i], found = c, true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown column %q", f.Name)
		}
	}
	if len(out) == 0 || out[0].field.Name != "id" {
		return nil, fmt.Errorf("first column must be id")
	}
	return out, nil
}
