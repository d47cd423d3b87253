package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/wireloops"
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
func (f *WireFields) Len() int { return len(f.rows) }

// Field returns row r's field, nil when it is NULL.
func (f *WireFields) Field(r int) []byte {
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
// in two passes with no call per value (but a memmove for a field of more
// than 16 bytes): it first locates every field of every row, then fills one
// column at a time with a loop specialised to that column's conversion.
// Each loop is a small function of its own, which a wasm guest runs 2-3
// times faster than the same loop inside a large function
// (docs/rationale.md). In a connector (a guest that imports package sdk)
// the host runs these loops natively instead (the wire_rows import,
// abi.WireRowsOp), except those of WireCustom and WireFixed columns, which
// call the connector's functions.
func (b *Builder) AppendWireRows(rows [][]byte, cols []WireColumn) (int, error) {
	ncols := len(cols)
	base := b.cols[0].length
	n := min(len(rows), b.maxRows-base)
	if n <= 0 {
		return 0, nil
	}
	// One spare row of locations: the loops below advance their pointer
	// past the last row they read, which must stay inside the allocation.
	if cap(b.wireLocs) < (n+1)*ncols {
		b.wireLocs = make([]uint64, (n+1)*ncols)
	}
	locs := b.wireLocs[:n*ncols]

	// Pass 1: locate the fields and stop at the byte bound. A row's size
	// is its fixed part plus its field bytes, which are the row's length
	// up to its last field less the length words.
	budget := b.maxBytes - b.estimate(base)
	rowSize := b.fixedRowBytes + b.bitmaps - 4*ncols
	n, size, bad := locate(rows[:n], locs, ncols, budget, rowSize, base > 0)
	if bad >= 0 {
		return 0, wireRowError(rows[bad], ncols)
	}
	if n == 0 {
		return 0, nil
	}

	// Pass 2: one column at a time.
	for ci := range cols {
		if err := b.cols[ci].appendWire(&cols[ci], rows[:n], locs[ci:], ncols, size); err != nil {
			return 0, &ColumnError{ci, err}
		}
	}
	return n, nil
}

// The loops over rows below are small functions kept out of line (Go's
// wasm port makes a function one dispatch loop over all its blocks, and
// wazero keeps the function's values live across all of them). They report
// a failing row by index and leave building the error to their caller, so
// that no error path adds calls to them.

// locateWireFields stores the location (see wireLoc) of field ci of row r
// at locs[r*ncols+ci], checking that every field lies inside its row, so
// that the conversion loops read them unchecked. It stops before the row
// that overdraws budget (less rowSize per row) unless that is the first
// row and the batch is empty (!nonEmpty), and returns the number of rows
// located, an upper bound of their field bytes (size), and bad = -1; or
// the index of a malformed row as bad.
//
//go:noinline
func locateWireFields(rows [][]byte, locs []uint64, ncols, budget, rowSize int, nonEmpty bool) (n, size, bad int) {
	if len(locs) < len(rows)*ncols {
		panic("batch: wire locations too short")
	}
	lp := unsafe.Pointer(unsafe.SliceData(locs))
	for r, row := range rows {
		p := unsafe.Pointer(unsafe.SliceData(row))
		end, off := len(row), 0
		for ci := 0; ci < ncols; ci++ {
			if end-off < 4 {
				return 0, 0, r
			}
			l := int32(bits.ReverseBytes32(*(*uint32)(unsafe.Add(p, off))))
			off += 4
			// -1 <= l <= end-off, as one unsigned comparison.
			if uint64(int64(l)+1) > uint64(end-off+1) {
				return 0, 0, r
			}
			*(*uint64)(lp) = uint64(uint32(off)) | uint64(uint32(l))<<32
			lp = unsafe.Add(lp, 8)
			off += int(l) &^ int(l>>31) // NULL (-1) adds 0
		}
		size += off
		if budget -= rowSize + off; budget < 0 && (r > 0 || nonEmpty) {
			return r, size, -1
		}
	}
	return len(rows), size, -1
}

// wireRowError returns the ColumnError locateWireFields found in row.
func wireRowError(row []byte, ncols int) error {
	off := 0
	for ci := 0; ci < ncols; ci++ {
		if len(row)-off < 4 {
			return &ColumnError{ci, fmt.Errorf("%w: row ends before the field", ErrWireRow)}
		}
		l := int32(binary.BigEndian.Uint32(row[off:]))
		off += 4
		if l < -1 || int(l) > len(row)-off {
			return &ColumnError{ci, fmt.Errorf("%w: field length %d", ErrWireRow, l)}
		}
		off += max(int(l), 0)
	}
	return fmt.Errorf("%w: no malformed field", ErrWireRow)
}

// A wire location packs a field's offset in its row (low 32 bits) and its
// length, -1 for NULL (high 32 bits).
func wireLoc(loc uint64) (off int, l int32) { return int(uint32(loc)), int32(loc >> 32) }

// appendWire appends field ci of each row; locs[r*stride] locates row r's
// field, inside the row (checked by AppendWireRows); the rows' fields hold
// at most size bytes.
func (c *col) appendWire(wc *WireColumn, rows [][]byte, locs []uint64, stride, size int) error {
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
	i0 := c.length
	nulls, bad := 0, -1
	switch wc.Kind {
	case WireFixed:
		w := c.layout.Width
		if err := wc.Fixed(c.values[i0*w:(i0+n)*w], WireFields{rows, locs, stride}); err != nil {
			return err
		}
		nulls = countWireNulls(n, lp, step)
	case WireBE64, WireBE64Shift, WireBE32, WireBE32Shift, WireBE16:
		w := c.layout.Width
		nulls, bad = wireFixed(wc, c.values[i0*w:(i0+n)*w], rows, locs, stride)
	case WireBool:
		nulls, bad = wireBools(c.values, i0, rows, locs, stride)
	case WireBytes, WireVersionedBytes:
		skip := wc.Kind == WireVersionedBytes
		start := len(c.values)
		if cap(c.values)-start < size+8 { // 8: wireBytes' slack
			// Grow by what this column needs, not by the bound.
			c.values = slices.Grow(c.values, wireFieldBytes(rows, locs, stride)+8)
		}
		var end int
		end, nulls, bad = wireAllBytes(c.values[:cap(c.values)], start, c.offsets[(i0+1)*4:(i0+n+1)*4], rows, locs, stride, skip, wc.Version)
		if bad >= 0 {
			return ErrWireVersion
		}
		c.values = c.values[:end]
	}
	if bad >= 0 {
		return wireError(wc, rows[bad], *(*uint64)(unsafe.Add(lp, bad*step)))
	}
	// Validity, once the column has nulls (see appendNull): set every
	// row's bit (and those of the values before a first null), then clear
	// the nulls'.
	if c.nulls > 0 || nulls > 0 {
		from := i0
		if c.nulls == 0 {
			from = 0
		}
		setBits(c.validity, from, i0+n-from)
		if nulls > 0 {
			clearWireNulls(c.validity, i0, n, lp, step)
			c.nulls += nulls
		}
	}
	c.length = i0 + n
	return nil
}

// wireFixed runs the loop of a fixed-width kind: in the host when it can
// (wireloops.Host), else its own.
func wireFixed(wc *WireColumn, dst []byte, rows [][]byte, locs []uint64, stride int) (nulls, bad int) {
	if h := wireloops.Host; h != nil {
		op := abi.WireRowsBE16
		switch wc.Kind {
		case WireBE32:
			op = abi.WireRowsBE32
		case WireBE64:
			op = abi.WireRowsBE64
		case WireBE32Shift:
			op = abi.WireRowsBE32Shift
		case WireBE64Shift:
			op = abi.WireRowsBE64Shift
		}
		if nulls, bad, ok := h.Fixed(int32(op), dst, rows, locs, stride, wc.Shift); ok {
			return nulls, bad
		}
	}
	lp, step := unsafe.Pointer(unsafe.SliceData(locs)), stride*8
	switch wc.Kind {
	case WireBE64:
		return wireBE64(dst, rows, lp, step)
	case WireBE64Shift:
		return wireBE64Shift(dst, rows, lp, step, wc.Shift)
	case WireBE32:
		return wireBE32(dst, rows, lp, step)
	case WireBE32Shift:
		return wireBE32Shift(dst, rows, lp, step, int32(wc.Shift))
	default:
		return wireBE16(dst, rows, lp, step)
	}
}

// wireBools is wireBool, in the host when it can.
func wireBools(bm []byte, i0 int, rows [][]byte, locs []uint64, stride int) (nulls, bad int) {
	if h := wireloops.Host; h != nil {
		if nulls, bad, ok := h.Bool(bm, i0, rows, locs, stride); ok {
			return nulls, bad
		}
	}
	return wireBool(bm, i0, rows, unsafe.Pointer(unsafe.SliceData(locs)), stride*8)
}

// wireFieldBytes is wireBytesSize, in the host when it can.
func wireFieldBytes(rows [][]byte, locs []uint64, stride int) int {
	if h := wireloops.Host; h != nil {
		if size, ok := h.BytesSize(rows, locs, stride); ok {
			return size
		}
	}
	return wireBytesSize(len(rows), unsafe.Pointer(unsafe.SliceData(locs)), stride*8)
}

// wireAllBytes is wireBytes, in the host when it can.
func wireAllBytes(values []byte, start int, offsets []byte, rows [][]byte, locs []uint64, stride int, skip bool, version byte) (end, nulls, bad int) {
	if h := wireloops.Host; h != nil {
		if end, nulls, bad, ok := h.Bytes(values, start, offsets, rows, locs, stride, skip, version); ok {
			return end, nulls, bad
		}
	}
	return wireBytes(values, start, offsets, rows, unsafe.Pointer(unsafe.SliceData(locs)), stride*8, skip, version)
}

// locate is locateWireFields, in the host when it can.
func locate(rows [][]byte, locs []uint64, ncols, budget, rowSize int, nonEmpty bool) (n, size, bad int) {
	if h := wireloops.Host; h != nil {
		if n, size, bad, ok := h.Locate(rows, locs, ncols, budget, rowSize, nonEmpty); ok {
			return n, size, bad
		}
	}
	return locateWireFields(rows, locs, ncols, budget, rowSize, nonEmpty)
}

// wireError returns the error for the field at loc in row that a
// fixed-width conversion loop rejected: ErrValueLength, or for a
// WireBE64Shift field of the right length ErrOutOfRange.
func wireError(wc *WireColumn, row []byte, loc uint64) error {
	o, l := wireLoc(loc)
	if wc.Kind == WireBE64Shift && l == 8 {
		x := int64(binary.BigEndian.Uint64(row[o:]))
		return fmt.Errorf("%w: %d shifted by %d", ErrOutOfRange, x, wc.Shift)
	}
	return ErrValueLength
}

// countWireNulls returns how many of the n locations at lp (step bytes
// apart) are NULL.
//
//go:noinline
func countWireNulls(n int, lp unsafe.Pointer, step int) int {
	nulls := 0
	for r := 0; r < n; r++ {
		nulls += int(*(*uint64)(lp) >> 63)
		lp = unsafe.Add(lp, step)
	}
	return nulls
}

// clearWireNulls clears the validity bits of the NULL fields among the n
// locations at lp, row r being bit i0+r.
//
//go:noinline
func clearWireNulls(validity []byte, i0, n int, lp unsafe.Pointer, step int) {
	for r := 0; r < n; r++ {
		if int64(*(*uint64)(lp)) < 0 {
			i := i0 + r
			validity[i>>3] &^= 1 << (uint(i) & 7)
		}
		lp = unsafe.Add(lp, step)
	}
}

// The fixed-width loops below store row r's value at dst[r*w:] (dst holds
// exactly len(rows) values) and skip NULL fields; they return the number
// of NULLs, and bad = -1, or the index of the row whose field they reject
// as bad (wrong length, or a shift out of range).

//go:noinline
func wireBE64(dst []byte, rows [][]byte, lp unsafe.Pointer, step int) (nulls, bad int) {
	vp := unsafe.Pointer(unsafe.SliceData(dst[:len(rows)*8]))
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		if l := int32(loc >> 32); l != 8 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		*(*uint64)(unsafe.Add(vp, r*8)) = bits.ReverseBytes64(*(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), uint32(loc))))
	}
	return nulls, -1
}

//go:noinline
func wireBE64Shift(dst []byte, rows [][]byte, lp unsafe.Pointer, step int, shift int64) (nulls, bad int) {
	vp := unsafe.Pointer(unsafe.SliceData(dst[:len(rows)*8]))
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		if l := int32(loc >> 32); l != 8 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		x := bits.ReverseBytes64(*(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), uint32(loc))))
		if x != math.MaxInt64 && x != 1<<63 {
			s := int64(x) + shift
			if (s > int64(x)) != (shift > 0) || s == math.MaxInt64 || s == math.MinInt64 {
				return 0, r
			}
			x = uint64(s)
		}
		*(*uint64)(unsafe.Add(vp, r*8)) = x
	}
	return nulls, -1
}

//go:noinline
func wireBE32(dst []byte, rows [][]byte, lp unsafe.Pointer, step int) (nulls, bad int) {
	vp := unsafe.Pointer(unsafe.SliceData(dst[:len(rows)*4]))
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		if l := int32(loc >> 32); l != 4 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		*(*uint32)(unsafe.Add(vp, r*4)) = bits.ReverseBytes32(*(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), uint32(loc))))
	}
	return nulls, -1
}

//go:noinline
func wireBE32Shift(dst []byte, rows [][]byte, lp unsafe.Pointer, step int, shift int32) (nulls, bad int) {
	vp := unsafe.Pointer(unsafe.SliceData(dst[:len(rows)*4]))
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		if l := int32(loc >> 32); l != 4 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		x := bits.ReverseBytes32(*(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), uint32(loc))))
		if x != math.MaxInt32 && x != 1<<31 {
			x = uint32(int32(x) + shift)
		}
		*(*uint32)(unsafe.Add(vp, r*4)) = x
	}
	return nulls, -1
}

//go:noinline
func wireBE16(dst []byte, rows [][]byte, lp unsafe.Pointer, step int) (nulls, bad int) {
	vp := unsafe.Pointer(unsafe.SliceData(dst[:len(rows)*2]))
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		if l := int32(loc >> 32); l != 2 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		*(*uint16)(unsafe.Add(vp, r*2)) = bits.ReverseBytes16(*(*uint16)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), uint32(loc))))
	}
	return nulls, -1
}

// wireBool sets bit i0+r of the bitmap bm for each true field.
//
//go:noinline
func wireBool(bm []byte, i0 int, rows [][]byte, lp unsafe.Pointer, step int) (nulls, bad int) {
	_ = bm[(i0+len(rows)-1)>>3]
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		if l := int32(loc >> 32); l != 1 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		if *(*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), uint32(loc))) != 0 {
			i := i0 + r
			bm[i>>3] |= 1 << (uint(i) & 7)
		}
	}
	return nulls, -1
}

// wireBytesSize returns the bytes the n fields at lp hold.
//
//go:noinline
func wireBytesSize(n int, lp unsafe.Pointer, step int) int {
	size := 0
	for r := 0; r < n; r++ {
		l := int32(*(*uint64)(lp) >> 32)
		size += int(l) &^ int(l>>31)
		lp = unsafe.Add(lp, step)
	}
	return size
}

// wireBytes copies each row's field to values[pos:], pos starting at
// start, and stores the end offset of row r at offsets[r*4:]; values must
// have 8 bytes of slack after the fields, as fields of up to 16 bytes are
// copied as two words without a call (the inline copy is 3 times faster
// in a wasm guest than a call to memmove for strings such as
// PostgreSQL's enum-like text columns). With skip,
// a non-NULL field's first byte must be version and is not copied. It
// returns the end position and the number of NULLs, and bad = -1, or the
// index of a row whose field lacks the version byte as bad.
//
//go:noinline
func wireBytes(values []byte, start int, offsets []byte, rows [][]byte, lp unsafe.Pointer, step int, skip bool, version byte) (end, nulls, bad int) {
	op := unsafe.Pointer(unsafe.SliceData(offsets[:len(rows)*4]))
	vp := unsafe.Pointer(unsafe.SliceData(values))
	pos := start
	for r, row := range rows {
		loc := *(*uint64)(lp)
		lp = unsafe.Add(lp, step)
		o, l := wireLoc(loc)
		if skip && l >= 0 {
			if l == 0 || row[o] != version {
				return 0, 0, r
			}
			o, l = o+1, l-1
		}
		switch {
		case l > 16 || l > 0 && l < 8 && o+int(l) < 8:
			pos += copy(values[pos:], row[o:o+int(l)])
		case l >= 8:
			// Two overlapping words instead of a call to memmove.
			src, dst := unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), o), unsafe.Add(vp, pos)
			*(*uint64)(dst) = *(*uint64)(src)
			*(*uint64)(unsafe.Add(dst, l-8)) = *(*uint64)(unsafe.Add(src, l-8))
			pos += int(l)
		case l > 0:
			// The word ending with the field (starting in the row before
			// it), shifted down; the bytes past the field land in the
			// slack after pos.
			w := *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(row)), o+int(l)-8))
			*(*uint64)(unsafe.Add(vp, pos)) = w >> (64 - 8*uint(l))
			pos += int(l)
		case l < 0:
			nulls++
		}
		*(*uint32)(unsafe.Add(op, r*4)) = uint32(pos)
	}
	return pos, nulls, -1
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
