package pgarrow

// Writer appends values to one Arrow column. The source decoder calls it
// once per value; implementations are column buffers (validity bitmap,
// offsets, values) reused across batches.
type Writer interface {
	// AppendNull appends a null.
	AppendNull()
	// AppendBool appends a bool value.
	AppendBool(v bool)
	// AppendInt16 appends an int16 value.
	AppendInt16(v int16)
	// AppendInt32 appends an int32 value (also date32).
	AppendInt32(v int32)
	// AppendInt64 appends an int64 value (also time64, timestamp).
	AppendInt64(v int64)
	// AppendFloat32 appends a float32 value.
	AppendFloat32(v float32)
	// AppendFloat64 appends a float64 value.
	AppendFloat64(v float64)
	// AppendBytes appends a utf8 or binary value; v is copied.
	AppendBytes(v []byte)
	// AppendDecimal128 appends a decimal128 given as two's complement
	// little-endian 64-bit words (lo, hi).
	AppendDecimal128(lo, hi uint64)
	// AppendDecimal256 appends a decimal256 given as two's complement
	// little-endian 64-bit words.
	AppendDecimal256(w [4]uint64)
	// AppendMonthDayNano appends an interval_mdn value.
	AppendMonthDayNano(months, days int32, nanos int64)
	// ElemWriter returns the writer of a list column's elements.
	ElemWriter() Writer
	// AppendListEnd closes a list value whose elements were appended to Elem.
	AppendListEnd()
}

// Reader reads values of one Arrow column of a received batch. Index i is
// the row (or, for a list's Elem, the element position).
type Reader interface {
	// IsNull reports whether value i is null.
	IsNull(i int) bool
	// Bool returns value i of a bool column.
	Bool(i int) bool
	// Int16 returns value i of an int16 column.
	Int16(i int) int16
	// Int32 returns value i of an int32 or date32 column.
	Int32(i int) int32
	// Int64 returns value i of an int64, time64 or timestamp column.
	Int64(i int) int64
	// Float32 returns value i of a float32 column.
	Float32(i int) float32
	// Float64 returns value i of a float64 column.
	Float64(i int) float64
	// Bytes returns value i of a utf8 or binary column without copying.
	Bytes(i int) []byte
	// Decimal128 returns value i of a decimal128 column as (lo, hi) words.
	Decimal128(i int) (lo, hi uint64)
	// Decimal256 returns value i of a decimal256 column as little-endian words.
	Decimal256(i int) [4]uint64
	// MonthDayNano returns value i of an interval_mdn column.
	MonthDayNano(i int) (months, days int32, nanos int64)
	// ListRange returns the element range [start, end) of list value i.
	ListRange(i int) (start, end int)
	// ElemReader returns the reader of a list column's elements.
	ElemReader() Reader
}
