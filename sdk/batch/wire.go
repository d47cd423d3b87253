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
	// WireVersionedBytes stores the field's bytes after its first byte,
	// which must be the column's Version (a format version such as
	// PostgreSQL's binary jsonb has), in a utf8 or binary column; another
	// first byte, or an empty field, is ErrWireVersion.
	WireVersionedBytes
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
	// Version is the first byte of every WireVersionedBytes field.
	Version byte
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
	rows   [][]byte
	locs   []uint64 // row r's field: locs[r*stride], see wireLoc
	stride int
}

// Len returns the number of rows.
func (f WireFields) Len() int { return len(f.rows) }

// Field returns row r's field, nil when it is NULL.
func (f WireFields) Field(r int) []byte {
	o, l := wireLoc(f.locs[r*f.stride])
	if l < 0 {
		return nil
	}
	return f.rows[r][o : o+int(l) : o+int(l)]
}

// ErrOutOfRange is wrapped when a shifted value does not fit its column.
var ErrOutOfRange = errors.New("batch: value out of range")

// ErrWireVersion is returned for a WireVersionedBytes field that does not
// start with the column's version byte.
var ErrWireVersion = errors.New("batch: field does not start with the column's version byte")

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
		case WireBytes, WireVersionedBytes:
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
	if cap(b.wireLocs) < n*ncols {
		b.wireLocs = make([]uint64, n*ncols)
	}
	locs := b.wireLocs[:n*ncols]

	// Pass 1: locate the fields and stop at the byte bound. Every field is
	// checked to lie inside its row, so pass 2 reads them unchecked. A
	// row's size is its fixed part plus its field bytes, which are the
	// row's length up to its last field less the length words.
	budget := b.maxBytes - b.estimate(base)
	rowSize := b.fixedRowBytes + b.bitmaps - 4*ncols
	lp := unsafe.Pointer(unsafe.SliceData(locs))
	k := 0 // locs index, r*ncols + ci
	for r := 0; r < n; r++ {
		row := rows[r]
		p := unsafe.Pointer(unsafe.SliceData(row))
		end, off := len(row), 0
		for ci := 0; ci < ncols; ci++ {
			if end-off < 4 {
				return 0, &ColumnError{ci, fmt.Errorf("%w: row ends before the field", ErrWireRow)}
			}
			l := int32(bits.ReverseBytes32(*(*uint32)(unsafe.Add(p, off))))
			off += 4
			// -1 <= l <= end-off, as one unsigned comparison.
			if uint64(int64(l)+1) > uint64(end-off+1) {
				return 0, &ColumnError{ci, fmt.Errorf("%w: field length %d", ErrWireRow, l)}
			}
			*(*uint64)(unsafe.Add(lp, k*8)) = uint64(uint32(off)) | uint64(uint32(l))<<32
			k++
			off += int(l) &^ int(l>>31) // NULL (-1) adds 0
		}
		if budget -= rowSize + off; budget < 0 && (r > 0 || base > 0) {
			n = r
			break
		}
	}
	if n == 0 {
		return 0, nil
	}

	// Pass 2: one column at a time.
	for ci := range cols {
		if err := b.cols[ci].appendWire(&cols[ci], rows[:n], locs[ci:], ncols); err != nil {
			return 0, &ColumnError{ci, err}
		}
	}
	return n, nil
}

// A wire location packs a field's offset in its row (low 32 bits) and its
// length, -1 for NULL (high 32 bits).
func wireLoc(loc uint64) (off int, l int32) { return int(uint32(loc)), int32(loc >> 32) }

// appendWire appends field ci of each row; locs[r*stride] locates row r's
// field, inside the row (checked by AppendWireRows).
func (c *col) appendWire(wc *WireColumn, rows [][]byte, locs []uint64, stride int) error {
	n := len(rows)
	_ = locs[(n-1)*stride] // the last location: the loops below read locs unchecked
	lp := unsafe.Pointer(unsafe.SliceData(locs))
	step := stride * 8
	if wc.Kind == WireCustom {
		for r, row := range rows {
			o, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			if l < 0 {
				c.appendNull()
				continue
			}
			if err := wc.Decode(row[o : o+int(l) : o+int(l)]); err != nil {
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
		if err := wc.Fixed(c.values[i0*w:(i0+n)*w], WireFields{rows, locs, stride}); err != nil {
			return err
		}
		for r := 0; r < n; r++ {
			nulls += int(*(*uint64)(unsafe.Add(lp, r*step)) >> 63)
		}
	case WireBE64, WireBE64Shift:
		vp := unsafe.Pointer(unsafe.SliceData(c.values[i0*8 : (i0+n)*8]))
		shift := wc.Shift
		if wc.Kind == WireBE64 {
			shift = 0
		}
		for r, row := range rows {
			o, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			if l != 8 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			x := bits.ReverseBytes64(*(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), o)))
			if shift != 0 && x != math.MaxInt64 && x != 1<<63 {
				s := int64(x) + shift
				if (s > int64(x)) != (shift > 0) || s == math.MaxInt64 || s == math.MinInt64 {
					return fmt.Errorf("%w: %d shifted by %d", ErrOutOfRange, int64(x), shift)
				}
				x = uint64(s)
			}
			*(*uint64)(unsafe.Add(vp, r*8)) = x
		}
	case WireBE32, WireBE32Shift:
		vp := unsafe.Pointer(unsafe.SliceData(c.values[i0*4 : (i0+n)*4]))
		shift := int32(wc.Shift)
		if wc.Kind == WireBE32 {
			shift = 0
		}
		for r, row := range rows {
			o, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			if l != 4 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			x := bits.ReverseBytes32(*(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), o)))
			if shift != 0 && x != math.MaxInt32 && x != 1<<31 {
				x = uint32(int32(x) + shift)
			}
			*(*uint32)(unsafe.Add(vp, r*4)) = x
		}
	case WireBE16:
		vp := unsafe.Pointer(unsafe.SliceData(c.values[i0*2 : (i0+n)*2]))
		for r, row := range rows {
			o, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			if l != 2 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			*(*uint16)(unsafe.Add(vp, r*2)) = bits.ReverseBytes16(*(*uint16)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), o)))
		}
	case WireBool:
		for r, row := range rows {
			o, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			if l != 1 {
				if l == -1 {
					nulls++
					continue
				}
				return ErrValueLength
			}
			if *(*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), o)) != 0 {
				i := i0 + r
				c.values[i>>3] |= 1 << (uint(i) & 7)
			}
		}
	case WireBytes, WireVersionedBytes:
		skip := 0 // the version byte
		if wc.Kind == WireVersionedBytes {
			skip = 1
		}
		size := 0
		for r := 0; r < n; r++ {
			_, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			size += int(l) &^ int(l>>31)
		}
		start := len(c.values)
		c.values = slices.Grow(c.values, size)[:start+size]
		pos := start
		offsets := c.offsets[(i0+1)*4 : (i0+n+1)*4]
		for r, row := range rows {
			o, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step)))
			if skip != 0 && l >= 0 {
				if l == 0 || row[o] != wc.Version {
					return ErrWireVersion
				}
				o, l = o+1, l-1
			}
			if l > 0 {
				pos += copy(c.values[pos:], row[o:o+int(l)])
			} else if l < 0 {
				nulls++
			}
			*(*uint32)(unsafe.Pointer(&offsets[r*4])) = uint32(pos)
		}
		c.values = c.values[:pos]
	}
	// Validity: set every row's bit, then clear the nulls'.
	setBits(c.validity, i0, n)
	if nulls > 0 {
		for r := 0; r < n; r++ {
			if _, l := wireLoc(*(*uint64)(unsafe.Add(lp, r*step))); l < 0 {
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
