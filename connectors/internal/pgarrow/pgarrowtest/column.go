// Package pgarrowtest provides an in-memory column that implements both
// pgarrow.Writer and pgarrow.Reader, for tests.
package pgarrowtest

import "github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"

// Column stores values as Go values; Vals[i] is nil for NULL.
type Column struct {
	// Vals holds one value per row: bool, int16, int32, int64, float32,
	// float64, []byte, [2]uint64, [4]uint64, MDN or [2]int (list range).
	Vals []any
	// Child holds list elements.
	Child *Column
}

// MDN is an interval_mdn value.
type MDN struct {
	Months, Days int32
	Nanos        int64
}

var (
	_ pgarrow.Writer = (*Column)(nil)
	_ pgarrow.Reader = (*Column)(nil)
)

// AppendNull implements pgarrow.Writer.
func (c *Column) AppendNull() { c.Vals = append(c.Vals, nil) }

// AppendBool implements pgarrow.Writer.
func (c *Column) AppendBool(v bool) { c.Vals = append(c.Vals, v) }

// AppendInt16 implements pgarrow.Writer.
func (c *Column) AppendInt16(v int16) { c.Vals = append(c.Vals, v) }

// AppendInt32 implements pgarrow.Writer.
func (c *Column) AppendInt32(v int32) { c.Vals = append(c.Vals, v) }

// AppendInt64 implements pgarrow.Writer.
func (c *Column) AppendInt64(v int64) { c.Vals = append(c.Vals, v) }

// AppendFloat32 implements pgarrow.Writer.
func (c *Column) AppendFloat32(v float32) { c.Vals = append(c.Vals, v) }

// AppendFloat64 implements pgarrow.Writer.
func (c *Column) AppendFloat64(v float64) { c.Vals = append(c.Vals, v) }

// AppendBytes implements pgarrow.Writer.
func (c *Column) AppendBytes(v []byte) { c.Vals = append(c.Vals, append([]byte{}, v...)) }

// AppendDecimal128 implements pgarrow.Writer.
func (c *Column) AppendDecimal128(lo, hi uint64) { c.Vals = append(c.Vals, [2]uint64{lo, hi}) }

// AppendDecimal256 implements pgarrow.Writer.
func (c *Column) AppendDecimal256(w [4]uint64) { c.Vals = append(c.Vals, w) }

// AppendMonthDayNano implements pgarrow.Writer.
func (c *Column) AppendMonthDayNano(m, d int32, n int64) { c.Vals = append(c.Vals, MDN{m, d, n}) }

func (c *Column) elem() *Column {
	if c.Child == nil {
		c.Child = &Column{}
	}
	return c.Child
}

// ElemWriter implements pgarrow.Writer.
func (c *Column) ElemWriter() pgarrow.Writer { return c.elem() }

// ElemReader implements pgarrow.Reader.
func (c *Column) ElemReader() pgarrow.Reader { return c.elem() }

// AppendListEnd implements pgarrow.Writer.
func (c *Column) AppendListEnd() {
	end := len(c.elem().Vals)
	start := 0
	for i := len(c.Vals) - 1; i >= 0; i-- {
		if r, ok := c.Vals[i].([2]int); ok {
			start = r[1]
			break
		}
	}
	c.Vals = append(c.Vals, [2]int{start, end})
}

// IsNull implements pgarrow.Reader.
func (c *Column) IsNull(i int) bool { return c.Vals[i] == nil }

// Bool implements pgarrow.Reader.
func (c *Column) Bool(i int) bool { return c.Vals[i].(bool) }

// Int16 implements pgarrow.Reader.
func (c *Column) Int16(i int) int16 { return c.Vals[i].(int16) }

// Int32 implements pgarrow.Reader.
func (c *Column) Int32(i int) int32 { return c.Vals[i].(int32) }

// Int64 implements pgarrow.Reader.
func (c *Column) Int64(i int) int64 { return c.Vals[i].(int64) }

// Float32 implements pgarrow.Reader.
func (c *Column) Float32(i int) float32 { return c.Vals[i].(float32) }

// Float64 implements pgarrow.Reader.
func (c *Column) Float64(i int) float64 { return c.Vals[i].(float64) }

// Bytes implements pgarrow.Reader.
func (c *Column) Bytes(i int) []byte { return c.Vals[i].([]byte) }

// Decimal128 implements pgarrow.Reader.
func (c *Column) Decimal128(i int) (uint64, uint64) {
	v := c.Vals[i].([2]uint64)
	return v[0], v[1]
}

// Decimal256 implements pgarrow.Reader.
func (c *Column) Decimal256(i int) [4]uint64 { return c.Vals[i].([4]uint64) }

// MonthDayNano implements pgarrow.Reader.
func (c *Column) MonthDayNano(i int) (int32, int32, int64) {
	v := c.Vals[i].(MDN)
	return v.Months, v.Days, v.Nanos
}

// ListRange implements pgarrow.Reader.
func (c *Column) ListRange(i int) (int, int) {
	v := c.Vals[i].([2]int)
	return v[0], v[1]
}
