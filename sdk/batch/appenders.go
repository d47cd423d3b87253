package batch

import (
	"errors"
	"math"
	"math/bits"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrValueLength is returned by the raw-bytes fast paths when the input has
// the wrong length for the column; nothing is appended.
var ErrValueLength = errors.New("batch: value has the wrong byte length")

func getU32(b []byte, off int) uint32 {
	_ = b[off+3]
	return *(*uint32)(unsafe.Pointer(&b[off]))
}

func putU32(b []byte, off int, v uint32) {
	_ = b[off+3]
	*(*uint32)(unsafe.Pointer(&b[off])) = v
}

// fixed is the shared part of the fixed-width appenders.
type fixed struct{ c *col }

// slot returns the index of the next value, growing when needed.
func (f fixed) slot(width int) int {
	c := f.c
	i := c.length
	if (i+1)*width > len(c.values) || i>>3 >= len(c.validity) {
		c.grow()
	}
	return i
}

// AppendNull appends a null.
func (f fixed) AppendNull() { f.c.appendNull() }

// AppendRaw appends one value given as its little-endian bytes; p must be
// exactly the column's byte width.
func (f fixed) AppendRaw(p []byte) error {
	w := f.c.layout.Width
	if len(p) != w {
		return ErrValueLength
	}
	i := f.slot(w)
	copy(f.c.values[i*w:], p)
	f.c.setValid(i)
	return nil
}

func (f fixed) put8(v uint64) {
	i := f.slot(8)
	*(*uint64)(unsafe.Pointer(&f.c.values[i*8])) = v
	f.c.setValid(i)
}

func (f fixed) put4(v uint32) {
	i := f.slot(4)
	*(*uint32)(unsafe.Pointer(&f.c.values[i*4])) = v
	f.c.setValid(i)
}

func (f fixed) put2(v uint16) {
	i := f.slot(2)
	*(*uint16)(unsafe.Pointer(&f.c.values[i*2])) = v
	f.c.setValid(i)
}

func (f fixed) put1(v uint8) {
	i := f.slot(1)
	f.c.values[i] = v
	f.c.setValid(i)
}

// be8 appends an 8-byte big-endian value plus delta.
func (f fixed) be8(p []byte, delta uint64) error {
	if len(p) != 8 {
		return ErrValueLength
	}
	f.put8(bits.ReverseBytes64(*(*uint64)(unsafe.Pointer(&p[0]))) + delta)
	return nil
}

func (f fixed) be4(p []byte, delta uint32) error {
	if len(p) != 4 {
		return ErrValueLength
	}
	f.put4(bits.ReverseBytes32(*(*uint32)(unsafe.Pointer(&p[0]))) + delta)
	return nil
}

// Int64Col appends to an int64, uint64, timestamp or time64 column.
type Int64Col struct{ fixed }

// Int64 returns the appender of an int64, uint64, timestamp or time64 column.
func (c Column) Int64() Int64Col {
	return Int64Col{fixed{c.want("Int64", abi.KindInt64, abi.KindUint64, abi.KindTimestamp, abi.KindTime64)}}
}

// Int64 returns the appender of top-level column i (int64, uint64,
// timestamp or time64).
func (b *Builder) Int64(i int) Int64Col { return b.Column(i).Int64() }

// Timestamp returns the appender of timestamp column i (values in the
// column's unit since the Unix epoch).
func (b *Builder) Timestamp(i int) Int64Col { return b.Column(i).Int64() }

// Time64 returns the appender of time64 column i.
func (b *Builder) Time64(i int) Int64Col { return b.Column(i).Int64() }

// Append appends v.
func (a Int64Col) Append(v int64) { a.put8(uint64(v)) }

// AppendUint appends v (for uint64 columns).
func (a Int64Col) AppendUint(v uint64) { a.put8(v) }

// AppendBigEndian8 appends the 8-byte big-endian (network order) integer p,
// for example a PostgreSQL binary int8.
func (a Int64Col) AppendBigEndian8(p []byte) error { return a.be8(p, 0) }

// AppendBigEndian8Plus appends the big-endian integer p plus delta, for
// example a PostgreSQL timestamp (microseconds since 2000-01-01) plus
// 946684800000000 for the Unix epoch.
func (a Int64Col) AppendBigEndian8Plus(p []byte, delta int64) error {
	return a.be8(p, uint64(delta))
}

// Int32Col appends to an int32, uint32, date32 or time32 column.
type Int32Col struct{ fixed }

// Int32 returns the appender of an int32, uint32, date32 or time32 column.
func (c Column) Int32() Int32Col {
	return Int32Col{fixed{c.want("Int32", abi.KindInt32, abi.KindUint32, abi.KindDate32, abi.KindTime32)}}
}

// Int32 returns the appender of top-level column i (int32, uint32, date32
// or time32).
func (b *Builder) Int32(i int) Int32Col { return b.Column(i).Int32() }

// Date32 returns the appender of date32 column i (days since 1970-01-01).
func (b *Builder) Date32(i int) Int32Col { return b.Column(i).Int32() }

// Append appends v.
func (a Int32Col) Append(v int32) { a.put4(uint32(v)) }

// AppendUint appends v (for uint32 columns).
func (a Int32Col) AppendUint(v uint32) { a.put4(v) }

// AppendBigEndian4 appends the 4-byte big-endian integer p.
func (a Int32Col) AppendBigEndian4(p []byte) error { return a.be4(p, 0) }

// AppendBigEndian4Plus appends the big-endian integer p plus delta, for
// example a PostgreSQL date (days since 2000-01-01) plus 10957.
func (a Int32Col) AppendBigEndian4Plus(p []byte, delta int32) error {
	return a.be4(p, uint32(delta))
}

// Int16Col appends to an int16 or uint16 column.
type Int16Col struct{ fixed }

// Int16 returns the appender of an int16 or uint16 column.
func (c Column) Int16() Int16Col {
	return Int16Col{fixed{c.want("Int16", abi.KindInt16, abi.KindUint16)}}
}

// Int16 returns the appender of top-level column i.
func (b *Builder) Int16(i int) Int16Col { return b.Column(i).Int16() }

// Append appends v.
func (a Int16Col) Append(v int16) { a.put2(uint16(v)) }

// AppendBigEndian2 appends the 2-byte big-endian integer p.
func (a Int16Col) AppendBigEndian2(p []byte) error {
	if len(p) != 2 {
		return ErrValueLength
	}
	a.put2(uint16(p[0])<<8 | uint16(p[1]))
	return nil
}

// Int8Col appends to an int8 or uint8 column.
type Int8Col struct{ fixed }

// Int8 returns the appender of an int8 or uint8 column.
func (c Column) Int8() Int8Col { return Int8Col{fixed{c.want("Int8", abi.KindInt8, abi.KindUint8)}} }

// Int8 returns the appender of top-level column i.
func (b *Builder) Int8(i int) Int8Col { return b.Column(i).Int8() }

// Append appends v.
func (a Int8Col) Append(v int8) { a.put1(uint8(v)) }

// Float64Col appends to a float64 column.
type Float64Col struct{ fixed }

// Float64 returns the appender of a float64 column.
func (c Column) Float64() Float64Col { return Float64Col{fixed{c.want("Float64", abi.KindFloat64)}} }

// Float64 returns the appender of top-level column i.
func (b *Builder) Float64(i int) Float64Col { return b.Column(i).Float64() }

// Append appends v.
func (a Float64Col) Append(v float64) { a.put8(math.Float64bits(v)) }

// AppendBigEndian8 appends the big-endian IEEE 754 double p (PostgreSQL float8).
func (a Float64Col) AppendBigEndian8(p []byte) error { return a.be8(p, 0) }

// Float32Col appends to a float32 column.
type Float32Col struct{ fixed }

// Float32 returns the appender of a float32 column.
func (c Column) Float32() Float32Col { return Float32Col{fixed{c.want("Float32", abi.KindFloat32)}} }

// Float32 returns the appender of top-level column i.
func (b *Builder) Float32(i int) Float32Col { return b.Column(i).Float32() }

// Append appends v.
func (a Float32Col) Append(v float32) { a.put4(math.Float32bits(v)) }

// AppendBigEndian4 appends the big-endian IEEE 754 float p (PostgreSQL float4).
func (a Float32Col) AppendBigEndian4(p []byte) error { return a.be4(p, 0) }

// Decimal128Col appends to a decimal128 column (unscaled two's-complement
// 128-bit integers).
type Decimal128Col struct{ fixed }

// Decimal128 returns the appender of a decimal128 column.
func (c Column) Decimal128() Decimal128Col {
	return Decimal128Col{fixed{c.want("Decimal128", abi.KindDecimal128)}}
}

// Decimal128 returns the appender of top-level column i.
func (b *Builder) Decimal128(i int) Decimal128Col { return b.Column(i).Decimal128() }

// Append appends the unscaled value hi<<64 | lo.
func (a Decimal128Col) Append(lo uint64, hi int64) {
	i := a.slot(16)
	p := unsafe.Pointer(&a.c.values[i*16])
	*(*uint64)(p) = lo
	*(*int64)(unsafe.Add(p, 8)) = hi
	a.c.setValid(i)
}

// AppendInt64 appends a small unscaled value.
func (a Decimal128Col) AppendInt64(v int64) { a.Append(uint64(v), v>>63) }

// Decimal256Col appends to a decimal256 column.
type Decimal256Col struct{ fixed }

// Decimal256 returns the appender of a decimal256 column.
func (c Column) Decimal256() Decimal256Col {
	return Decimal256Col{fixed{c.want("Decimal256", abi.KindDecimal256)}}
}

// Decimal256 returns the appender of top-level column i.
func (b *Builder) Decimal256(i int) Decimal256Col { return b.Column(i).Decimal256() }

// Append appends the unscaled value given as four little-endian 64-bit
// words, least significant first.
func (a Decimal256Col) Append(words [4]uint64) {
	i := a.slot(32)
	*(*[4]uint64)(unsafe.Pointer(&a.c.values[i*32])) = words
	a.c.setValid(i)
}

// AppendInt64 appends a small unscaled value.
func (a Decimal256Col) AppendInt64(v int64) {
	s := uint64(v >> 63)
	a.Append([4]uint64{uint64(v), s, s, s})
}

// IntervalMDNCol appends to an interval_mdn (Arrow month_day_nano) column.
type IntervalMDNCol struct{ fixed }

// IntervalMDN returns the appender of an interval_mdn column.
func (c Column) IntervalMDN() IntervalMDNCol {
	return IntervalMDNCol{fixed{c.want("IntervalMDN", abi.KindIntervalMDN)}}
}

// IntervalMDN returns the appender of top-level column i.
func (b *Builder) IntervalMDN(i int) IntervalMDNCol { return b.Column(i).IntervalMDN() }

// Append appends an interval.
func (a IntervalMDNCol) Append(months, days int32, nanos int64) {
	i := a.slot(16)
	p := unsafe.Pointer(&a.c.values[i*16])
	*(*int32)(p) = months
	*(*int32)(unsafe.Add(p, 4)) = days
	*(*int64)(unsafe.Add(p, 8)) = nanos
	a.c.setValid(i)
}

// BoolCol appends to a bool column.
type BoolCol struct{ c *col }

// Bool returns the appender of a bool column.
func (c Column) Bool() BoolCol { return BoolCol{c.want("Bool", abi.KindBool)} }

// Bool returns the appender of top-level column i.
func (b *Builder) Bool(i int) BoolCol { return b.Column(i).Bool() }

// Append appends v.
func (a BoolCol) Append(v bool) {
	c := a.c
	i := c.length
	if i>>3 >= len(c.values) || i>>3 >= len(c.validity) {
		c.grow()
	}
	if v {
		c.values[i>>3] |= 1 << (uint(i) & 7)
	}
	c.setValid(i)
}

// AppendNull appends a null.
func (a BoolCol) AppendNull() { a.c.appendNull() }

// BytesCol appends to a utf8 or binary column.
type BytesCol struct{ c *col }

// Bytes returns the appender of a utf8 or binary column.
func (c Column) Bytes() BytesCol { return BytesCol{c.want("Bytes", abi.KindUtf8, abi.KindBinary)} }

// Utf8 returns the appender of utf8 (or binary) column i.
func (b *Builder) Utf8(i int) BytesCol { return b.Column(i).Bytes() }

// Binary returns the appender of binary (or utf8) column i.
func (b *Builder) Binary(i int) BytesCol { return b.Column(i).Bytes() }

// AppendBytes appends a copy of p. The builder does not check UTF-8; the
// host validates utf8 columns.
func (a BytesCol) AppendBytes(p []byte) {
	c := a.c
	i := c.length
	if (i+2)*4 > len(c.offsets) || i>>3 >= len(c.validity) {
		c.grow()
	}
	c.values = append(c.values, p...)
	putU32(c.offsets, (i+1)*4, uint32(len(c.values)))
	c.setValid(i)
}

// AppendString appends a copy of s.
func (a BytesCol) AppendString(s string) {
	a.AppendBytes(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// AppendNull appends a null.
func (a BytesCol) AppendNull() { a.c.appendNull() }

// ListCol appends to a list column: append the row's elements to Elem,
// then call Append to close the row.
type ListCol struct{ c *col }

// List returns the appender of a list column.
func (c Column) List() ListCol { return ListCol{c.want("List", abi.KindList)} }

// List returns the appender of top-level list column i.
func (b *Builder) List(i int) ListCol { return b.Column(i).List() }

// Elem returns the handle of the list's child column.
func (a ListCol) Elem() Column { return Column{a.c.child} }

// Append closes one row holding every element appended to Elem since the
// previous row.
func (a ListCol) Append() {
	c := a.c
	i := c.length
	if (i+2)*4 > len(c.offsets) || i>>3 >= len(c.validity) {
		c.grow()
	}
	putU32(c.offsets, (i+1)*4, uint32(c.child.length))
	c.setValid(i)
}

// AppendNull appends a null row; elements appended to Elem since the
// previous row are discarded from the row (they stay in the child, unseen).
func (a ListCol) AppendNull() {
	a.c.appendNull()
	putU32(a.c.offsets, a.c.length*4, uint32(a.c.child.length))
}
