package pgarrow

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/wirefields"
)

// RawColumn is an optional Reader extension exposing the column's Arrow
// buffers (as batch.ColumnView does). AppendRows encodes the common
// fixed-width, bool, string and small-scale decimal conversions straight
// from these buffers, without a function or interface call per value: in a
// wasm guest those calls, not the byte shuffling, dominated COPY encoding.
type RawColumn interface {
	// Validity returns the validity bitmap, nil when no value is null.
	Validity() []byte
	// Values returns the values buffer (bit-packed for bool, data for
	// utf8 and binary).
	Values() []byte
	// Offsets returns the int32 offsets buffer of a utf8 or binary column.
	Offsets() []byte
}

// fastKind is a conversion AppendRows does inline on a RawColumn.
type fastKind uint8

const (
	fastNone    fastKind = iota
	fastW2               // int16 -> int2
	fastW4               // int32 -> int4
	fastW8               // int64 -> int8, float64 -> float8, time64 -> time
	fastTS               // timestamp -> timestamp(tz)
	fastDate             // date32 -> date
	fastBool             // bool -> bool
	fastBytes            // utf8/binary -> text/bytea
	fastDec              // decimal128 with scale 0..16 -> numeric
	fastJSONB            // utf8 -> jsonb (version byte, then the text)
	fastNumText          // utf8 numeric text -> numeric (the column path only)
)

// fastKindFor returns the inline conversion from src to dst, matching what
// encoderFor's function does for the pair, or fastNone.
func fastKindFor(dst, src *Type) fastKind {
	if dst.Cast {
		return fastNone
	}
	sk := src.Kind
	switch dst.Kind {
	case KindInt16:
		if sk == KindInt16 {
			return fastW2
		}
	case KindInt32:
		if sk == KindInt32 {
			return fastW4
		}
	case KindInt64:
		if sk == KindInt64 {
			return fastW8
		}
	case KindFloat64:
		if sk == KindFloat64 {
			return fastW8
		}
	case KindTime:
		if sk == KindTime {
			return fastW8
		}
	case KindTimestamp, KindTimestampTZ:
		if sk == KindTimestamp || sk == KindTimestampTZ {
			return fastTS
		}
	case KindDate:
		if sk == KindDate {
			return fastDate
		}
	case KindBool:
		if sk == KindBool {
			return fastBool
		}
	case KindText, KindBytes:
		if isText(sk) || sk == KindBytes {
			return fastBytes
		}
	case KindJSONB:
		if isText(sk) {
			return fastJSONB
		}
	case KindDecimal128, KindDecimal256, KindNumericText:
		if sk == KindDecimal128 && src.Scale >= 0 && src.Scale <= maxFastDecScale {
			return fastDec
		}
		if isText(sk) {
			return fastNumText
		}
	}
	return fastNone
}

// rawCol is one column's state during AppendRows.
type rawCol struct {
	kind     fastKind
	scale    int    // fastDec: decimal scale
	pad, lim uint64 // fastDec: see putNumericDigits
	validity []byte
	values   []byte
	offsets  []byte
}

// setRaw fills e.raw for cols: a column gets its inline conversion when
// it has one and its reader is a RawColumn.
func (e *Encoder) setRaw(cols []Reader) {
	if cap(e.raw) < len(e.fns) {
		e.raw = make([]rawCol, len(e.fns))
	}
	e.raw = e.raw[:len(e.fns)]
	for c := range e.fns {
		rc := rawCol{kind: e.fast[c], scale: e.scale[c]}
		if rc.kind == fastDec {
			rc.pad = pow10u64[(rc.scale+3)&^3-rc.scale]
			rc.lim = math.MaxUint64 / rc.pad
		}
		if rc.kind != fastNone {
			// Inline conversions read Arrow's little-endian buffers with
			// native loads.
			if r, ok := cols[c].(RawColumn); ok {
				rc.validity, rc.values, rc.offsets = r.Validity(), r.Values(), r.Offsets()
			} else {
				rc.kind = fastNone
			}
		}
		e.raw[c] = rc
	}
}

// room returns the most bytes an inline conversion stores for one value
// (for fastBytes, not counting the value's bytes; at least the 4 of a NULL;
// encodeInline leaves fastJSONB to the encodeFunc).
func (k fastKind) room() int {
	switch k {
	case fastW2:
		return 4 + 2
	case fastW4, fastDate:
		return 4 + 4
	case fastW8, fastTS:
		return 4 + 8
	case fastBool:
		return 4 + 1
	case fastDec:
		return fastDecRoom
	}
	return 4
}

// store16, store32 and store64 write v big-endian at b+p. The caller
// guarantees p+size <= cap of the buffer b points into.
func store16(b unsafe.Pointer, p int, v uint16) {
	*(*uint16)(unsafe.Add(b, p)) = bits.ReverseBytes16(v)
}

func store32(b unsafe.Pointer, p int, v uint32) {
	*(*uint32)(unsafe.Add(b, p)) = bits.ReverseBytes32(v)
}

func store64(b unsafe.Pointer, p int, v uint64) {
	*(*uint64)(unsafe.Add(b, p)) = bits.ReverseBytes64(v)
}

// appendRowsInline is AppendRows on a little-endian host. When every
// column converts inline it encodes column by column (appendColumns);
// otherwise, or for a decimal beyond 64 bits or a numeric text the column
// path does not take, encodeInline goes row by row
// and this loop grows the buffer and encodes the values encodeInline stops
// at.
func (e *Encoder) appendRowsInline(dst []byte, cols []Reader, from, to int) ([]byte, error) {
	raw := e.raw
	room := 2
	for c := range raw {
		room += raw[c].kind.room()
	}
	if e.allInline() {
		if out, ok := e.appendColumns(dst, from, to); ok {
			return out, nil
		}
	}
	p, i, c := len(dst), from, -1
	for i < to {
		buf := dst[:cap(dst)]
		var need int
		p, i, c, need = encodeInline(raw, buf, p, i, c, to, room)
		dst = buf[:p]
		switch {
		case need > 0:
			dst = slices.Grow(dst, need+p/4)
		case c >= 0:
			if cols[c].IsNull(i) {
				dst = append(dst, 0xff, 0xff, 0xff, 0xff)
			} else {
				var err error
				if dst, err = e.fns[c](dst, cols[c], i); err != nil {
					return dst, fmt.Errorf("row %d column %d: %w", i, c, err)
				}
			}
			p = len(dst)
			if cap(dst)-p < room {
				dst = slices.Grow(dst, room+p/4)
			}
			if c++; c == len(raw) {
				i, c = i+1, -1
			}
		}
	}
	return dst, nil
}

// encodeInline encodes rows [i, to) into buf from position p, starting row
// i at column c (-1: at the row's field count). It stores through a base
// pointer without bounds checks and contains no calls: in a wasm guest a
// call anywhere in the loop makes the compiler keep the loop's state in
// memory, which costs more than the encoding itself. It returns where it
// stopped: at row to (c = -1, need = 0); at row i, column c, whose value it
// does not convert inline (need = 0); or when buf needs need more bytes
// of capacity before row i, column c (c = -1: the row start).
//
// Invariant: at each row start buf has room bytes past p, enough for every
// fixed-size value of the row; a variable-length value is stored only with
// room more bytes to spare.
func encodeInline(raw []rawCol, buf []byte, p, i, c, to, room int) (int, int, int, int) {
	base := unsafe.Pointer(unsafe.SliceData(buf))
	limit := len(buf)
	n := uint16(len(raw))
	for ; i < to; i, c = i+1, -1 {
		if c < 0 {
			if limit-p < room {
				return p, i, -1, room
			}
			store16(base, p, n)
			p += 2
			c = 0
		}
		for ; c < len(raw); c++ {
			rc := &raw[c]
			if rc.validity != nil && rc.validity[i>>3]&(1<<(uint(i)&7)) == 0 {
				*(*uint32)(unsafe.Add(base, p)) = 0xffffffff
				p += 4
				continue
			}
			switch rc.kind {
			case fastW8, fastTS:
				v := *(*uint64)(unsafe.Pointer(&rc.values[i*8 : i*8+8][0]))
				if rc.kind == fastTS && int64(v) != math.MaxInt64 && int64(v) != math.MinInt64 {
					v -= uint64(EpochMicros)
				}
				*(*uint32)(unsafe.Add(base, p)) = 0x08000000 // 8, big-endian
				store64(base, p+4, v)
				p += 12
			case fastW4, fastDate:
				v := *(*uint32)(unsafe.Pointer(&rc.values[i*4 : i*4+4][0]))
				if rc.kind == fastDate && int32(v) != math.MaxInt32 && int32(v) != math.MinInt32 {
					v -= uint32(EpochDays)
				}
				*(*uint32)(unsafe.Add(base, p)) = 0x04000000 // 4, big-endian
				store32(base, p+4, v)
				p += 8
			case fastBytes:
				o := rc.offsets[i*4 : i*4+8]
				s := int(*(*int32)(unsafe.Pointer(&o[0])))
				e := int(*(*int32)(unsafe.Pointer(&o[4])))
				v := rc.values[s:e]
				if limit-p < len(v)+room {
					return p, i, c, len(v) + room
				}
				store32(base, p, uint32(len(v)))
				p += 4
				// Copy by words: runtime.memmove would be a call. The last
				// word overlaps the previous one; values under 8 bytes go
				// byte by byte.
				if len(v) >= 8 {
					src := unsafe.Pointer(unsafe.SliceData(v))
					for k := 0; k < len(v)-8; k += 8 {
						*(*uint64)(unsafe.Add(base, p+k)) = *(*uint64)(unsafe.Add(src, k))
					}
					*(*uint64)(unsafe.Add(base, p+len(v)-8)) = *(*uint64)(unsafe.Add(src, len(v)-8))
				} else {
					for k, b := range v {
						*(*byte)(unsafe.Add(base, p+k)) = b
					}
				}
				p += len(v)
			case fastDec:
				w := rc.values[i*16 : i*16+16]
				lo := *(*uint64)(unsafe.Pointer(&w[0]))
				hi := *(*uint64)(unsafe.Pointer(&w[8]))
				if hi != uint64(int64(lo)>>63) || int64(lo) == math.MinInt64 {
					return p, i, c, 0 // beyond 64 bits: the encodeFunc
				}
				p = putNumericDigits(base, p, lo, rc.scale, rc.pad, rc.lim, (rc.scale+3)>>2)
			case fastBool:
				*(*uint32)(unsafe.Add(base, p)) = 0x01000000 // 1, big-endian
				*(*byte)(unsafe.Add(base, p+4)) = (rc.values[i>>3] >> (uint(i) & 7)) & 1
				p += 5
			case fastW2:
				v := *(*uint16)(unsafe.Pointer(&rc.values[i*2 : i*2+2][0]))
				*(*uint32)(unsafe.Add(base, p)) = 0x02000000 // 2, big-endian
				store16(base, p+4, v)
				p += 6
			default:
				return p, i, c, 0
			}
		}
	}
	return p, i, -1, 0
}

// allInline reports whether every column of the current batch has an
// inline conversion.
func (e *Encoder) allInline() bool {
	for c := range e.raw {
		if e.raw[c].kind == fastNone {
			return false
		}
	}
	return true
}

// appendColumns is the column-at-a-time form of encodeInline: it sizes
// every row first, then fills one column of all rows at a time through a
// per-row cursor. Each column is a tight loop of a single conversion, so
// the per-value switch and its branches disappear, which in a wasm guest
// (where every taken branch is an indirect jump) halves the cost again.
// The loops handle NULLs without branches too: a column without nulls
// reads an all-valid bitmap (e.ones), and the value a NULL would have is
// stored past the tuples (at a scratch position) instead of being skipped.
// It returns false, having appended nothing, when a decimal does not fit
// 64 bits, a numeric text is not a plain number that fits a slot, or a
// column's buffers are inconsistent.
func (e *Encoder) appendColumns(dst []byte, from, to int) ([]byte, bool) {
	m := to - from
	if m <= 0 {
		return dst, true
	}
	if cap(e.cur) < m {
		e.cur = make([]int, m)
	}
	cur := e.cur[:m]
	if n := (to + 7) >> 3; len(e.ones) < n {
		e.ones = slices.Repeat([]byte{0xff}, n+n/2)
	}
	fixed := 2
	for c := range e.raw {
		rc := &e.raw[c]
		if rc.validity != nil && len(rc.validity)*8 < to {
			return dst, false
		}
		if k := rc.kind; k != fastBytes && k != fastJSONB && k != fastDec && k != fastNumText {
			fixed += k.room()
		}
	}
	// Pass 1: row sizes less fixed (a NULL's makes it negative); decimals
	// and numeric texts are encoded into slots of e.dec. bound is at least
	// the size of all rows.
	clear(cur) // memory.fill, not a loop
	bound := fixed * m
	nd := 0
	for c := range e.raw {
		rc := &e.raw[c]
		vp := e.validity(rc)
		switch rc.kind {
		case fastBytes, fastJSONB:
			span, ok := sizeBytes(cur, rc.offsets[from*4:(to+1)*4], len(rc.values), vp, from, rc.kind.prefix())
			if !ok {
				return dst, false
			}
			bound += span
		case fastDec, fastNumText:
			if need := (nd + 1) * m * decSlot; len(e.dec) < need {
				e.dec = append(e.dec, make([]byte, need-len(e.dec))...)
			}
			slots := e.dec[nd*m*decSlot : (nd+1)*m*decSlot]
			var n int
			var ok bool
			if rc.kind == fastDec {
				n, ok = encodeDecimals(cur, slots, rc.values[from*16:to*16], vp, from, rc)
			} else {
				n, ok = encodeNumericTexts(cur, slots, rc.offsets[from*4:(to+1)*4], rc.values, vp, from)
			}
			if !ok {
				return dst, false
			}
			bound += n
			nd++
		default:
			if rc.validity != nil {
				sizeNulls(cur, vp, from, rc.kind.room()-4)
			}
		}
	}
	// Row sizes to row positions, storing each row's field count. The
	// scratch position takes the values of NULLs; it and the slack after
	// it lie past the tuples.
	p := len(dst)
	scratch := p + bound + 8
	if need := scratch + scratchRoom; cap(dst) < need {
		dst = slices.Grow(dst, need-len(dst))
	}
	base := unsafe.Pointer(unsafe.SliceData(dst[:cap(dst)]))
	fc := uint16(len(e.raw))
	for j, n := range cur {
		store16(base, p, fc)
		cur[j] = p + 2
		p += fixed + n
	}
	// Pass 2: each column, by the host's loops when it runs them.
	nd = 0
	for c := range e.raw {
		rc := &e.raw[c]
		var slots []byte
		if rc.kind == fastDec || rc.kind == fastNumText {
			slots = e.dec[nd*m*decSlot : (nd+1)*m*decSlot]
			nd++
		}
		if putInHost(dst[:cap(dst)], cur, rc, from, to, slots) {
			continue
		}
		vp := e.validity(rc)
		valid := rc.validity == nil // the loops without NULLs are about half the work
		switch rc.kind {
		case fastW8, fastTS:
			var adj uint64
			if rc.kind == fastTS {
				adj = uint64(EpochMicros)
			}
			if valid {
				putW8Valid(base, cur, rc.values[from*8:to*8], adj)
			} else {
				putW8(base, cur, rc.values[from*8:to*8], vp, from, scratch, adj)
			}
		case fastW4, fastDate:
			var adj uint32
			if rc.kind == fastDate {
				adj = uint32(EpochDays)
			}
			if valid {
				putW4Valid(base, cur, rc.values[from*4:to*4], adj)
			} else {
				putW4(base, cur, rc.values[from*4:to*4], vp, from, scratch, adj)
			}
		case fastW2:
			putW2(base, cur, rc.values[from*2:to*2], vp, from, scratch)
		case fastBool:
			if valid {
				putBoolValid(base, cur, rc.values[:(to+7)>>3], from)
			} else {
				putBool(base, cur, rc.values[:(to+7)>>3], vp, from, scratch)
			}
		case fastBytes:
			putBytes(base, cur, rc.offsets[from*4:(to+1)*4], rc.values, vp, from, 0)
		case fastJSONB:
			// The version bytes go in after the values, which may
			// store over them; at their fields' starts.
			e.starts = append(e.starts[:0], cur...)
			putBytes(base, cur, rc.offsets[from*4:(to+1)*4], rc.values, vp, from, 1)
			putVersions(base, e.starts, vp, from, scratch)
		case fastDec, fastNumText:
			putSlots(base, cur, slots, scratch)
		}
	}
	return dst[:p], true
}

// putInHost writes column rc of rows [from, to) at the cursors cur
// through package wirefields, whose loops a current host runs natively for
// a wasm guest (the guest's own loops below are about three times slower),
// and reports whether it did; slots holds a fastDec or fastNumText
// column's encoded fields.
func putInHost(dst []byte, cur []int, rc *rawCol, from, to int, slots []byte) bool {
	switch rc.kind {
	case fastW8:
		return wirefields.Fixed(dst, cur, rc.values[from*8:to*8], rc.validity, from, 8, 0)
	case fastTS:
		return wirefields.Fixed(dst, cur, rc.values[from*8:to*8], rc.validity, from, 8, EpochMicros)
	case fastW4:
		return wirefields.Fixed(dst, cur, rc.values[from*4:to*4], rc.validity, from, 4, 0)
	case fastDate:
		return wirefields.Fixed(dst, cur, rc.values[from*4:to*4], rc.validity, from, 4, EpochDays)
	case fastW2:
		return wirefields.Fixed(dst, cur, rc.values[from*2:to*2], rc.validity, from, 2, 0)
	case fastBool:
		return wirefields.Bool(dst, cur, rc.values[:(to+7)>>3], rc.validity, from)
	case fastBytes:
		return wirefields.Bytes(dst, cur, rc.offsets[from*4:(to+1)*4], rc.values, rc.validity, from, -1)
	case fastJSONB:
		return wirefields.Bytes(dst, cur, rc.offsets[from*4:(to+1)*4], rc.values, rc.validity, from, JSONBVersion)
	case fastDec, fastNumText:
		return wirefields.Slots(dst, cur, slots, decSlot)
	}
	return false
}

// prefix returns how many bytes the binary form of a fastBytes or
// fastJSONB value has before the text: jsonb's version byte.
func (k fastKind) prefix() int {
	if k == fastJSONB {
		return 1
	}
	return 0
}

// validity returns the base of rc's validity bitmap, or of e.ones when
// rc has no nulls.
func (e *Encoder) validity(rc *rawCol) unsafe.Pointer {
	if rc.validity != nil {
		return unsafe.Pointer(unsafe.SliceData(rc.validity))
	}
	return unsafe.Pointer(unsafe.SliceData(e.ones))
}

// scratchRoom is how many bytes appendColumns keeps from its scratch
// position on (putSlots stores 12 there).
const scratchRoom = 16

// bit returns bit i of the bitmap at vp, 0 or 1.
func bit(vp unsafe.Pointer, i int) int {
	return int(*(*byte)(unsafe.Add(vp, i>>3))>>(uint(i)&7)) & 1
}

// sizeNulls takes w from the size of every row whose value is null (a
// NULL field is its 4-byte length only).
func sizeNulls(cur []int, vp unsafe.Pointer, from, w int) {
	for j := range cur {
		cur[j] -= w &^ -bit(vp, from+j)
	}
}

// sizeBytes adds each row's utf8 / binary field size, with pre bytes
// before the value, to cur; offs holds the offsets of the rows and the one
// after, into a data buffer of n bytes. It returns the span of the offsets
// plus 4+pre per row, at least the sum of the sizes, and false when the
// offsets do not ascend within the data buffer (putBytes copies without
// bounds checks).
func sizeBytes(cur []int, offs []byte, n int, vp unsafe.Pointer, from, pre int) (int, bool) {
	_ = offs[len(cur)*4+3]
	o := unsafe.Pointer(unsafe.SliceData(offs))
	first := int64(*(*int32)(o))
	last := int64(*(*int32)(unsafe.Add(o, len(cur)*4)))
	var bad int64
	for j := range cur {
		d := int64(*(*int32)(unsafe.Add(o, j*4+4))) - int64(*(*int32)(unsafe.Add(o, j*4)))
		bad |= d
		cur[j] += 4 + (int(d)+pre)&-bit(vp, from+j)
	}
	return int(last-first) + (4+pre)*len(cur), bad >= 0 && first >= 0 && last <= int64(n)
}

// infinity reports whether x is MaxInt64 or MinInt64, the timestamp
// infinities, which keep their value across epochs.
func infinity(x uint64) bool { return (x+1)>>1 == 1<<62 }

// putW8 stores each row's 8-byte field (or NULL) at its cursor,
// subtracting adj (an epoch shift) from every value but the infinities.
func putW8(base unsafe.Pointer, cur []int, values []byte, vp unsafe.Pointer, from, scratch int, adj uint64) {
	_ = values[len(cur)*8-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		b := bit(vp, from+j)
		x := *(*uint64)(unsafe.Add(v, j*8))
		a := adj
		if infinity(x) {
			a = 0
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x08000000 | uint32(b-1) // 8 big-endian, or NULL
		store64(base, q+4+(scratch-q-4)&(b-1), x-a)
		cur[j] = q + 4 + 8&-b
	}
}

// putW8Valid is putW8 for a column without NULLs.
func putW8Valid(base unsafe.Pointer, cur []int, values []byte, adj uint64) {
	_ = values[len(cur)*8-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		x := *(*uint64)(unsafe.Add(v, j*8))
		a := adj
		if infinity(x) {
			a = 0
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x08000000 // 8, big-endian
		store64(base, q+4, x-a)
		cur[j] = q + 12
	}
}

// putW4 stores each row's 4-byte field (or NULL), subtracting adj from
// every value but MaxInt32 and MinInt32 (the date infinities).
func putW4(base unsafe.Pointer, cur []int, values []byte, vp unsafe.Pointer, from, scratch int, adj uint32) {
	_ = values[len(cur)*4-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		b := bit(vp, from+j)
		x := *(*uint32)(unsafe.Add(v, j*4))
		a := adj
		if (x+1)>>1 == 1<<30 {
			a = 0
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x04000000 | uint32(b-1) // 4 big-endian, or NULL
		store32(base, q+4+(scratch-q-4)&(b-1), x-a)
		cur[j] = q + 4 + 4&-b
	}
}

// putW4Valid is putW4 for a column without NULLs.
func putW4Valid(base unsafe.Pointer, cur []int, values []byte, adj uint32) {
	_ = values[len(cur)*4-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		x := *(*uint32)(unsafe.Add(v, j*4))
		a := adj
		if (x+1)>>1 == 1<<30 {
			a = 0
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x04000000 // 4, big-endian
		store32(base, q+4, x-a)
		cur[j] = q + 8
	}
}

// putW2 stores each row's 2-byte field (or NULL).
func putW2(base unsafe.Pointer, cur []int, values []byte, vp unsafe.Pointer, from, scratch int) {
	_ = values[len(cur)*2-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		b := bit(vp, from+j)
		*(*uint32)(unsafe.Add(base, q)) = 0x02000000 | uint32(b-1) // 2 big-endian, or NULL
		store16(base, q+4+(scratch-q-4)&(b-1), *(*uint16)(unsafe.Add(v, j*2)))
		cur[j] = q + 4 + 2&-b
	}
}

// putBool stores each row's bool field (or NULL); values is the
// bit-packed buffer up to the last row.
func putBool(base unsafe.Pointer, cur []int, values []byte, vp unsafe.Pointer, from, scratch int) {
	_ = values[(from+len(cur)-1)>>3]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		i := from + j
		b := bit(vp, i)
		*(*uint32)(unsafe.Add(base, q)) = 0x01000000 | uint32(b-1) // 1 big-endian, or NULL
		*(*byte)(unsafe.Add(base, q+4+(scratch-q-4)&(b-1))) = byte(bit(v, i))
		cur[j] = q + 4 + b
	}
}

// putBoolValid is putBool for a column without NULLs. Inlined, its loop
// would share appendColumns' locals and run slower.
//
//go:noinline
func putBoolValid(base unsafe.Pointer, cur []int, values []byte, from int) {
	_ = values[(from+len(cur)-1)>>3]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		*(*uint32)(unsafe.Add(base, q)) = 0x01000000 // 1, big-endian
		*(*byte)(unsafe.Add(base, q+4)) = byte(bit(v, from+j))
		cur[j] = q + 5
	}
}

// putBytes stores each row's utf8 / binary field (or NULL), leaving pre
// (0 or 1) bytes for a version before the value; offs holds the offsets of the
// rows and the one after (checked by sizeBytes), data is the whole data
// buffer. Values up to 32 bytes are copied by at most four overlapping
// words, longer ones by copy (runtime.memmove: in a wasm guest a call
// costs about as much as four words, a loop iteration about as much as
// one).
func putBytes(base unsafe.Pointer, cur []int, offs, data []byte, vp unsafe.Pointer, from, pre int) {
	_ = offs[len(cur)*4+3]
	o := unsafe.Pointer(unsafe.SliceData(offs))
	d := unsafe.Pointer(unsafe.SliceData(data))
	// An empty or NULL value may start at the end of data, where Go
	// forbids a pointer (it may point into the next allocation); only a
	// value of n > 0 bytes, which starts before that, reads src.
	lastByte := max(len(data)-1, 0)
	for j, q := range cur {
		b := bit(vp, from+j)
		s := int(*(*int32)(unsafe.Add(o, j*4)))
		e := int(*(*int32)(unsafe.Add(o, j*4+4)))
		n := (e - s) & -b
		over := lastByte - s                    // -1 when s is the end
		src := unsafe.Add(d, s+over&(over>>63)) // min(s, lastByte), no branch
		dst := unsafe.Add(base, q+4+pre)
		switch {
		case uint(n-4) <= 4 && e >= 8:
			// One word ending with the value; it starts at most 4
			// bytes early, over the length stored below (and the
			// version, stored after putBytes).
			*(*uint64)(unsafe.Add(dst, n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		case uint(n-8) <= 8:
			*(*uint64)(dst) = *(*uint64)(src)
			*(*uint64)(unsafe.Add(dst, n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		case uint(n-16) <= 16:
			*(*uint64)(dst) = *(*uint64)(src)
			*(*uint64)(unsafe.Add(dst, 8)) = *(*uint64)(unsafe.Add(src, 8))
			*(*uint64)(unsafe.Add(dst, n-16)) = *(*uint64)(unsafe.Add(src, n-16))
			*(*uint64)(unsafe.Add(dst, n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		case n > 32:
			// Slices of array pointers: unsafe.Slice would call
			// runtime.unsafeslice.
			copy((*[math.MaxInt32]byte)(dst)[:n:n], (*[math.MaxInt32]byte)(src)[:n:n])
		default:
			for k := range n {
				*(*byte)(unsafe.Add(dst, k)) = *(*byte)(unsafe.Add(src, k))
			}
		}
		*(*uint32)(unsafe.Add(base, q)) = bits.ReverseBytes32(uint32(n+pre)) | uint32(b-1)
		cur[j] = q + 4 + (n+pre)&-b
	}
}

// putVersions stores the jsonb version byte 1 after the length of each
// row's field starting at starts (or, for a NULL, at the scratch
// position).
func putVersions(base unsafe.Pointer, starts []int, vp unsafe.Pointer, from, scratch int) {
	for j, q := range starts {
		*(*byte)(unsafe.Add(base, q+4+(scratch-q-4)&(bit(vp, from+j)-1))) = 1
	}
}
