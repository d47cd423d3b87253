package batch

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
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
	// WireFixed hands the column's fields in all the rows of one
	// AppendWireRows call to the column's Fixed function, which writes
	// their values straight into a fixed-width column: one call per column
	// and batch instead of one per value.
	WireFixed
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
	// Fixed converts the fields of a WireFixed column: for each non-NULL
	// field r of fields it writes the value's w bytes (w the column's byte
	// width) at dst[r*w:], and it leaves the slots of NULL fields as they
	// are (the builder keeps the validity bitmap). dst is exactly
	// fields.Len()*w bytes. On error the batch is discarded.
	Fixed func(dst []byte, fields WireFields) error
}

// WireFields are one column's fields in the rows of an AppendWireRows
// call, as given to a WireFixed column's Fixed function. They alias the
// rows and are valid only during the call.
type WireFields struct {
	rows       [][]byte
	offs, lens []int32 // row r's field: offs[r*stride], lens[r*stride]
	stride     int
}

// Len returns the number of rows.
func (f WireFields) Len() int { return len(f.rows) }

// Field returns row r's field, nil when it is NULL.
func (f WireFields) Field(r int) []byte {
	i := r * f.stride
	l := f.lens[i]
	if l < 0 {
		return nil
	}
	o := f.offs[i]
	return f.rows[r][o : o+l : o+l]
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
// columns: one per column, each kind matching the column's layout, a
// Decode function for every WireCustom column and a Fixed function for
// every WireFixed column.
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
		case WireFixed:
			ok = wc.Fixed != nil && c.layout.Width > 0
		default:
			ok = false
		}
		if !ok {
			return fmt.Errorf("%w: wire kind %d does not fit column %d (%s)", ErrInvalid, wc.Kind, i, c.typ)
		}
	}
	return nil
}

// AppendWireRows appends rows, each given as consecutive length-prefixed
// fields: a 4-byte big-endian length (-1 for NULL) followed by that many
// bytes, one field per top-level column in order (the PostgreSQL binary
// tuple layout, after its field count). Fields after the last column are
// ignored. cols must have passed CheckWireColumns.
//
// It appends as many leading rows as fit the batch's row and byte bounds
// (at least one into an empty batch) and returns how many; when that is
// fewer than len(rows), the batch is full. On error the batch may be partly
// appended and must be discarded.
//
// It is the fast path for row-oriented binary sources. In a wasm guest,
// every call and every taken branch inside a loop is expensive, so it works
// in two passes without calls: it first locates every field of every row,
// then fills one column at a time with a loop specialised to that column's
// conversion.
func (b *Builder) AppendWireRows(rows [][]byte, cols []WireColumn) (int, error) {
	ncols := len(cols)
	base := b.cols[0].length
	n := min(len(rows), b.maxRows-base)
	if n <= 0 {
		return 0, nil
	}
	if cap(b.wireOff) < n*ncols {
		b.wireOff = make([]int32, n*ncols)
		b.wireLen = make([]int32, n*ncols)
	}
	offs, lens := b.wireOff[:n*ncols], b.wireLen[:n*ncols]

	// Pass 1: locate the fields and stop at the byte bound.
	budget := b.maxBytes - b.estimate(base)
	for r := 0; r < n; r++ {
		row := rows[r]
		off, size := 0, b.fixedRowBytes+b.bitmaps
		for ci := 0; ci < ncols; ci++ {
			if len(row)-off < 4 {
				return 0, &ColumnError{ci, fmt.Errorf("%w: row ends before the field", ErrWireRow)}
			}
			l := int32(bits.ReverseBytes32(*(*uint32)(unsafe.Pointer(&row[off]))))
			off += 4
			if l < -1 || int(l) > len(row)-off {
				return 0, &ColumnError{ci, fmt.Errorf("%w: field length %d", ErrWireRow, l)}
			}
			offs[r*ncols+ci], lens[r*ncols+ci] = int32(off), l
			if l > 0 {
				off += int(l)
				size += int(l)
			}
		}
		if budget -= size; budget < 0 && (r > 0 || base > 0) {
			n = r
			break
		}
	}
	if n == 0 {
		return 0, nil
	}

	// Pass 2: one column at a time.
	for ci := range cols {
		if err := b.cols[ci].appendWire(&cols[ci], rows[:n], offs[ci:], lens[ci:], ncols); err != nil {
			return 0, &ColumnError{ci, err}
		}
	}
	return n, nil
}

// appendWire appends field ci of each row; offs[r*stride] and
// lens[r*stride] locate row r's field.
func (c *col) appendWire(wc *WireColumn, rows [][]byte, offs, lens []int32, stride int) error {
	n := len(rows)
	if wc.Kind == WireCustom {
		for r := 0; r < n; r++ {
			l := lens[r*stride]
			if l < 0 {
				c.appendNull()
				continue
			}
			o := offs[r*stride]
			if err := wc.Decode(rows[r][o : o+l]); err != nil {
				return err
			}
		}
		return nil
	}
	c.reserve(n)
	i0, nulls := c.length, 0
	switch wc.Kind {
	case WireFixed:
		w := c.layout.Width
		if err := wc.Fixed(c.values[i0*w:(i0+n)*w], WireFields{rows, offs, lens, stride}); err != nil {
			return err
		}
		for r := 0; r < n; r++ {
			nulls += int(uint32(lens[r*stride]) >> 31)
		}
	case WireBE64, WireBE64Shift:
		vals := c.values[i0*8 : (i0+n)*8]
		shift := wc.Shift
		if wc.Kind == WireBE64 {
			shift = 0
		}
		for r := 0; r < n; r++ {
			l := lens[r*stride]
			if l != 8 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			x := bits.ReverseBytes64(*(*uint64)(unsafe.Pointer(&rows[r][offs[r*stride]])))
			if shift != 0 && x != math.MaxInt64 && x != 1<<63 {
				s := int64(x) + shift
				if (s > int64(x)) != (shift > 0) || s == math.MaxInt64 || s == math.MinInt64 {
					return fmt.Errorf("%w: %d shifted by %d", ErrOutOfRange, int64(x), shift)
				}
				x = uint64(s)
			}
			*(*uint64)(unsafe.Pointer(&vals[r*8])) = x
		}
	case WireBE32, WireBE32Shift:
		vals := c.values[i0*4 : (i0+n)*4]
		shift := int32(wc.Shift)
		if wc.Kind == WireBE32 {
			shift = 0
		}
		for r := 0; r < n; r++ {
			l := lens[r*stride]
			if l != 4 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			x := bits.ReverseBytes32(*(*uint32)(unsafe.Pointer(&rows[r][offs[r*stride]])))
			if shift != 0 && x != math.MaxInt32 && x != 1<<31 {
				x = uint32(int32(x) + shift)
			}
			*(*uint32)(unsafe.Pointer(&vals[r*4])) = x
		}
	case WireBE16:
		vals := c.values[i0*2 : (i0+n)*2]
		for r := 0; r < n; r++ {
			l := lens[r*stride]
			if l != 2 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			*(*uint16)(unsafe.Pointer(&vals[r*2])) = bits.ReverseBytes16(*(*uint16)(unsafe.Pointer(&rows[r][offs[r*stride]])))
		}
	case WireBool:
		for r := 0; r < n; r++ {
			l := lens[r*stride]
			if l != 1 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			if rows[r][offs[r*stride]] != 0 {
				i := i0 + r
				c.values[i>>3] |= 1 << (uint(i) & 7)
			}
		}
	case WireBytes:
		size := 0
		for r := 0; r < n; r++ {
			size += max(int(lens[r*stride]), 0)
		}
		start := len(c.values)
		c.values = slices.Grow(c.values, size)[:start+size]
		pos := start
		offsets := c.offsets[(i0+1)*4 : (i0+n+1)*4]
		for r := 0; r < n; r++ {
			l := lens[r*stride]
			if l > 0 {
				o := offs[r*stride]
				pos += copy(c.values[pos:], rows[r][o:o+l])
			} else if l < 0 {
				nulls++
			}
			*(*uint32)(unsafe.Pointer(&offsets[r*4])) = uint32(pos)
		}
	}
	// Validity: set every row's bit, then clear the nulls'.
	setBits(c.validity, i0, n)
	if nulls > 0 {
		for r := 0; r < n; r++ {
			if lens[r*stride] < 0 {
				i := i0 + r
				c.validity[i>>3] &^= 1 << (uint(i) & 7)
			}
		}
		c.nulls += nulls
	}
	c.length = i0 + n
	return nil
}

// reserve makes room for n more values in a fixed-width, bool or
// utf8/binary column (the values of the latter grow as they are copied).
func (c *col) reserve(n int) {
	end := c.length + n
	if need := end/8 + 1; need > len(c.validity) {
		c.validity = append(c.validity, make([]byte, need-len(c.validity))...)
	}
	if c.layout.Offsets {
		if need := (end + 1) * 4; need > len(c.offsets) {
			c.offsets = append(c.offsets, make([]byte, need-len(c.offsets))...)
		}
	}
	switch {
	case c.layout.BitPacked:
		if need := end/8 + 1; need > len(c.values) {
			c.values = append(c.values, make([]byte, need-len(c.values))...)
		}
	case c.layout.Width > 0:
		if need := end * c.layout.Width; need > len(c.values) {
			c.values = append(c.values, make([]byte, need-len(c.values))...)
		}
	}
}

// setBits sets bits [from, from+n) of bm.
func setBits(bm []byte, from, n int) {
	i, end := from, from+n
	for ; i < end && i&7 != 0; i++ {
		bm[i>>3] |= 1 << (uint(i) & 7)
	}
	for ; i+8 <= end; i += 8 {
		bm[i>>3] = 0xff
	}
	for ; i < end; i++ {
		bm[i>>3] |= 1 << (uint(i) & 7)
	}
}
