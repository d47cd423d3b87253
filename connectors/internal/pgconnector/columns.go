package pgconnector

import (
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// colWriter adapts a batch.Column to pgarrow.Writer, caching the typed
// appender of the column's kind.
type colWriter struct {
	c    batch.Column
	i16  batch.Int16Col
	i32  batch.Int32Col
	i64  batch.Int64Col
	f32  batch.Float32Col
	f64  batch.Float64Col
	d128 batch.Decimal128Col
	d256 batch.Decimal256Col
	mdn  batch.IntervalMDNCol
	b    batch.BoolCol
	by   batch.BytesCol
	list batch.ListCol
	elem *colWriter
}

var _ pgarrow.Writer = (*colWriter)(nil)

func newColWriter(c batch.Column) *colWriter {
	w := &colWriter{c: c}
	switch c.Type().Kind {
	case abi.KindInt16:
		w.i16 = c.Int16()
	case abi.KindInt32, abi.KindDate32:
		w.i32 = c.Int32()
	case abi.KindInt64, abi.KindTimestamp, abi.KindTime64:
		w.i64 = c.Int64()
	case abi.KindFloat32:
		w.f32 = c.Float32()
	case abi.KindFloat64:
		w.f64 = c.Float64()
	case abi.KindDecimal128:
		w.d128 = c.Decimal128()
	case abi.KindDecimal256:
		w.d256 = c.Decimal256()
	case abi.KindIntervalMDN:
		w.mdn = c.IntervalMDN()
	case abi.KindBool:
		w.b = c.Bool()
	case abi.KindUtf8, abi.KindBinary:
		w.by = c.Bytes()
	case abi.KindList:
		w.list = c.List()
		w.elem = newColWriter(w.list.Elem())
	}
	return w
}

func (w *colWriter) AppendNull() {
	if w.elem != nil {
		w.list.AppendNull()
		return
	}
	w.c.AppendNull()
}
func (w *colWriter) AppendBool(v bool)                      { w.b.Append(v) }
func (w *colWriter) AppendInt16(v int16)                    { w.i16.Append(v) }
func (w *colWriter) AppendInt32(v int32)                    { w.i32.Append(v) }
func (w *colWriter) AppendInt64(v int64)                    { w.i64.Append(v) }
func (w *colWriter) AppendFloat32(v float32)                { w.f32.Append(v) }
func (w *colWriter) AppendFloat64(v float64)                { w.f64.Append(v) }
func (w *colWriter) AppendBytes(v []byte)                   { w.by.AppendBytes(v) }
func (w *colWriter) AppendDecimal128(lo, hi uint64)         { w.d128.Append(lo, int64(hi)) }
func (w *colWriter) AppendDecimal256(v [4]uint64)           { w.d256.Append(v) }
func (w *colWriter) AppendMonthDayNano(m, d int32, n int64) { w.mdn.Append(m, d, n) }
func (w *colWriter) ElemWriter() pgarrow.Writer             { return w.elem }
func (w *colWriter) AppendListEnd()                         { w.list.Append() }

// colReader adapts a *batch.ColumnView to pgarrow.Reader.
type colReader struct {
	*batch.ColumnView
	elem *colReader
}

var _ pgarrow.Reader = (*colReader)(nil)

// set points r (and its list children) at v.
func (r *colReader) set(v *batch.ColumnView) {
	r.ColumnView = v
	if c := v.Elem(); c != nil {
		if r.elem == nil {
			r.elem = &colReader{}
		}
		r.elem.set(c)
	}
}

func (r *colReader) Decimal128(i int) (uint64, uint64) {
	lo, hi := r.ColumnView.Decimal128(i)
	return lo, uint64(hi)
}

func (r *colReader) MonthDayNano(i int) (int32, int32, int64) { return r.IntervalMDN(i) }

func (r *colReader) ElemReader() pgarrow.Reader { return r.elem }
