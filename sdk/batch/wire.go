package batch

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// WireKind says how AppendWireRow stores one field of a wire row.
type WireKind uint8

// Wire field conversions. The BE kinds read a big-endian value of exactly
// the column's width.
const (
	// WireCustom hands the field to the column's Decode function.
	WireCustom WireKind = iota
	// WireBE16 stores a 2-byte big-endian value in a 2-byte column.
	WireBE16
	// WireBE32 stores a 4-byte big-endian value in a 4-byte column.
	WireBE32
	// WireBE64 stores an 8-byte big-endian value in an 8-byte column.
	WireBE64
	// WireBE32Shift stores a 4-byte big-endian int32 plus Shift, except
	// math.MinInt32 and math.MaxInt32, which are kept as they are (an epoch
	// change that keeps infinity sentinels).
	WireBE32Shift
	// WireBE64Shift stores an 8-byte big-endian int64 plus Shift, except
	// math.MinInt64 and math.MaxInt64, which are kept; a value that would
	// overflow or land on a kept sentinel is an error.
	WireBE64Shift
	// WireBool stores a 1-byte boolean (non-zero is true) in a bool column.
	WireBool
	// WireBytes stores the field's bytes in a utf8 or binary column.
	WireBytes
)

// WireColumn is the conversion of one top-level column in AppendWireRow.
type WireColumn struct {
	// Kind is the conversion.
	Kind WireKind
	// Shift is added by the Shift kinds.
	Shift int64
	// Decode appends one non-null field of a WireCustom column (through the
	// column's typed appender); the slice is valid only during the call.
	Decode func(field []byte) error
}

// ErrOutOfRange is wrapped when a shifted value does not fit its column.
var ErrOutOfRange = errors.New("batch: value out of range")

// ErrWireRow is wrapped by AppendWireRow's errors about the row's framing.
var ErrWireRow = errors.New("batch: malformed wire row")

// ColumnError is a field AppendWireRow could not store.
type ColumnError struct {
	// Column is the top-level column index.
	Column int
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *ColumnError) Error() string { return fmt.Sprintf("column %d: %v", e.Column, e.Err) }

// Unwrap returns the cause.
func (e *ColumnError) Unwrap() error { return e.Err }

// CheckWireColumns reports whether cols fit the builder's top-level
// columns: one per column, each kind matching the column's layout, and a
// Decode function for every WireCustom column.
func (b *Builder) CheckWireColumns(cols []WireColumn) error {
	if len(cols) != len(b.cols) {
		return fmt.Errorf("%w: %d wire columns for %d columns", ErrInvalid, len(cols), len(b.cols))
	}
	for i, wc := range cols {
		c := b.cols[i]
		ok := true
		switch wc.Kind {
		case WireCustom:
			ok = wc.Decode != nil
		case WireBE16:
			ok = c.layout.Width == 2
		case WireBE32, WireBE32Shift:
			ok = c.layout.Width == 4
		case WireBE64, WireBE64Shift:
			ok = c.layout.Width == 8
		case WireBool:
			ok = c.typ.Kind == abi.KindBool
		case WireBytes:
			ok = c.typ.Kind == abi.KindUtf8 || c.typ.Kind == abi.KindBinary
		default:
			ok = false
		}
		if !ok {
			return fmt.Errorf("%w: wire kind %d does not fit column %d (%s)", ErrInvalid, wc.Kind, i, c.typ)
		}
	}
	return nil
}

// AppendWireRow appends one row given as consecutive length-prefixed
// fields: a 4-byte big-endian length (-1 for NULL) followed by that many
// bytes, one field per top-level column in order (the PostgreSQL binary
// tuple layout, after its field count). Fields after the last column are
// ignored. cols must have passed CheckWireColumns.
//
// It is the fast path for row-oriented binary sources: one call per row,
// with the per-field conversions inline rather than a function call per
// value, which matters most in a wasm guest. On error the row may be
// partly appended; the batch must then be discarded.
func (b *Builder) AppendWireRow(row []byte, cols []WireColumn) error {
	off := 0
	for ci := range cols {
		wc := &cols[ci]
		c := b.cols[ci]
		if len(row)-off < 4 {
			return &ColumnError{ci, fmt.Errorf("%w: row ends before the field", ErrWireRow)}
		}
		n := int32(bits.ReverseBytes32(*(*uint32)(unsafe.Pointer(&row[off]))))
		off += 4
		i := c.length
		if n < 0 {
			if n != -1 {
				return &ColumnError{ci, fmt.Errorf("%w: field length %d", ErrWireRow, n)}
			}
			c.appendNull()
			continue
		}
		if int(n) > len(row)-off {
			return &ColumnError{ci, fmt.Errorf("%w: field of %d bytes overruns the row", ErrWireRow, n)}
		}
		v := row[off : off+int(n)]
		off += int(n)
		switch wc.Kind {
		case WireBE64, WireBE64Shift:
			if n != 8 {
				return &ColumnError{ci, ErrValueLength}
			}
			x := bits.ReverseBytes64(*(*uint64)(unsafe.Pointer(&v[0])))
			if wc.Kind == WireBE64Shift && x != math.MaxInt64 && x != 1<<63 {
				s := int64(x) + wc.Shift
				if (s > int64(x)) != (wc.Shift > 0) || s == math.MaxInt64 || s == math.MinInt64 {
					return &ColumnError{ci, fmt.Errorf("%w: %d shifted by %d", ErrOutOfRange, int64(x), wc.Shift)}
				}
				x = uint64(s)
			}
			if (i+1)*8 > len(c.values) || i>>3 >= len(c.validity) {
				c.grow()
			}
			*(*uint64)(unsafe.Pointer(&c.values[i*8])) = x
		case WireBE32, WireBE32Shift:
			if n != 4 {
				return &ColumnError{ci, ErrValueLength}
			}
			x := bits.ReverseBytes32(*(*uint32)(unsafe.Pointer(&v[0])))
			if wc.Kind == WireBE32Shift && x != math.MaxInt32 && x != 1<<31 {
				x = uint32(int32(x) + int32(wc.Shift))
			}
			if (i+1)*4 > len(c.values) || i>>3 >= len(c.validity) {
				c.grow()
			}
			*(*uint32)(unsafe.Pointer(&c.values[i*4])) = x
		case WireBE16:
			if n != 2 {
				return &ColumnError{ci, ErrValueLength}
			}
			if (i+1)*2 > len(c.values) || i>>3 >= len(c.validity) {
				c.grow()
			}
			*(*uint16)(unsafe.Pointer(&c.values[i*2])) = bits.ReverseBytes16(*(*uint16)(unsafe.Pointer(&v[0])))
		case WireBool:
			if n != 1 {
				return &ColumnError{ci, ErrValueLength}
			}
			if i>>3 >= len(c.values) || i>>3 >= len(c.validity) {
				c.grow()
			}
			if v[0] != 0 {
				c.values[i>>3] |= 1 << (uint(i) & 7)
			}
		case WireBytes:
			if (i+2)*4 > len(c.offsets) || i>>3 >= len(c.validity) {
				c.grow()
			}
			c.values = append(c.values, v...)
			putU32(c.offsets, (i+1)*4, uint32(len(c.values)))
		default:
			if err := wc.Decode(v); err != nil {
				return &ColumnError{ci, err}
			}
			continue // the appender set validity and length
		}
		c.validity[i>>3] |= 1 << (uint(i) & 7)
		c.length = i + 1
	}
	return nil
}
