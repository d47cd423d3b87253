package pgarrow

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"
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
	fastNone  fastKind = iota
	fastW2             // int16 -> int2
	fastW4             // int32 -> int4
	fastW8             // int64 -> int8, float64 -> float8, time64 -> time
	fastTS             // timestamp -> timestamp(tz)
	fastDate           // date32 -> date
	fastBool           // bool -> bool
	fastBytes          // utf8/binary -> text/bytea
	fastDec            // decimal128 with scale 0..16 -> numeric
)

// maxFastDecScale is the largest decimal128 scale fastDec handles: the
// fraction, padded to whole base-10000 digits, then fits 64 bits.
const maxFastDecScale = 16

// fastDecRoom is the largest fastDec field: length, numeric header and at
// most 5 integer plus 4 fraction base-10000 digits.
const fastDecRoom = 4 + 8 + 2*9

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
	case KindDecimal128, KindDecimal256, KindNumericText:
		if sk == KindDecimal128 && src.Scale >= 0 && src.Scale <= maxFastDecScale {
			return fastDec
		}
	}
	return fastNone
}

// rawCol is one column's state during AppendRows.
type rawCol struct {
	kind     fastKind
	scale    int // fastDec: decimal scale
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
// (for fastBytes, not counting the value's bytes; at least the 4 of a NULL).
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
// otherwise, or for a decimal beyond 64 bits, encodeInline goes row by row
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
				scale := rc.scale
				p = putNumericDigits(base, p, lo, scale, pow10u64[scale], pow10u64[(scale+3)&^3-scale], (scale+3)>>2)
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
// It returns false, having appended nothing, when a decimal does not fit
// 64 bits.
func (e *Encoder) appendColumns(dst []byte, from, to int) ([]byte, bool) {
	m := to - from
	if cap(e.cur) < m {
		e.cur = make([]int, m)
	}
	cur := e.cur[:m]
	fixed := 2
	for c := range e.raw {
		if k := e.raw[c].kind; k != fastBytes && k != fastDec {
			fixed += k.room()
		}
	}
	for j := range cur {
		cur[j] = fixed
	}
	// Pass 1: row sizes; decimals are encoded into slots of e.dec.
	nd := 0
	for c := range e.raw {
		rc := &e.raw[c]
		switch rc.kind {
		case fastBytes:
			sizeBytes(cur, rc.offsets[from*4:(to+1)*4], rc.validity, from)
		case fastDec:
			if need := (nd + 1) * m * decSlot; len(e.dec) < need {
				e.dec = append(e.dec, make([]byte, need-len(e.dec))...)
			}
			if !encodeDecimals(cur, e.dec[nd*m*decSlot:(nd+1)*m*decSlot], rc.values[from*16:to*16], rc.validity, from, rc.scale) {
				return dst, false
			}
			nd++
		default:
			if rc.validity != nil {
				sizeNulls(cur, rc.validity, from, rc.kind.room()-4)
			}
		}
	}
	// Row sizes to row offsets.
	p := len(dst)
	for j, n := range cur {
		cur[j] = p
		p += n
	}
	if cap(dst) < p {
		dst = slices.Grow(dst, p-len(dst))
	}
	buf := dst[:p]
	base := unsafe.Pointer(unsafe.SliceData(buf))
	// Pass 2: field counts, then each column.
	n := uint16(len(e.raw))
	for j, q := range cur {
		store16(base, q, n)
		cur[j] = q + 2
	}
	nd = 0
	for c := range e.raw {
		rc := &e.raw[c]
		switch rc.kind {
		case fastW8, fastTS:
			putW8(base, cur, rc.values[from*8:to*8], rc.validity, from, rc.kind == fastTS)
		case fastW4, fastDate:
			putW4(base, cur, rc.values[from*4:to*4], rc.validity, from, rc.kind == fastDate)
		case fastW2:
			putW2(base, cur, rc.values[from*2:to*2], rc.validity, from)
		case fastBool:
			putBool(base, cur, rc.values, rc.validity, from)
		case fastBytes:
			putBytes(base, cur, rc.offsets[from*4:(to+1)*4], rc.values, rc.validity, from)
		case fastDec:
			putSlots(base, cur, e.dec[nd*m*decSlot:(nd+1)*m*decSlot])
			nd++
		}
	}
	return buf, true
}

// decSlot is the size of one encoded decimal in Encoder.dec (at least
// fastDecRoom).
const decSlot = 32

// isNull reports whether bit i of validity (non-nil) is clear.
func isNull(validity []byte, i int) bool { return validity[i>>3]&(1<<(uint(i)&7)) == 0 }

// sizeNulls takes w from the size of every row whose value is null (a
// NULL field is its 4-byte length only).
func sizeNulls(cur []int, validity []byte, from, w int) {
	for j := range cur {
		if isNull(validity, from+j) {
			cur[j] -= w
		}
	}
}

// sizeBytes adds each row's utf8 / binary field size; offs holds the
// offsets of the rows and the one after.
func sizeBytes(cur []int, offs []byte, validity []byte, from int) {
	_ = offs[len(cur)*4+3]
	o := unsafe.Pointer(unsafe.SliceData(offs))
	for j := range cur {
		n := int(*(*int32)(unsafe.Add(o, j*4+4)) - *(*int32)(unsafe.Add(o, j*4)))
		if validity != nil && isNull(validity, from+j) {
			n = 0
		}
		cur[j] += 4 + n
	}
}

// encodeDecimals encodes each row's decimal128 (values, 16 bytes each) at
// scale as a length-prefixed binary numeric (or NULL) into its decSlot
// slot of slots and adds the field size to the row's. It returns false
// when a value does not fit 64 bits.
func encodeDecimals(cur []int, slots, values []byte, validity []byte, from, scale int) bool {
	_ = slots[len(cur)*decSlot-1]
	_ = values[len(cur)*16-1]
	s := unsafe.Pointer(unsafe.SliceData(slots))
	v := unsafe.Pointer(unsafe.SliceData(values))
	d := pow10u64[scale]
	pad := pow10u64[(scale+3)&^3-scale]
	fg := (scale + 3) >> 2
	for j := range cur {
		q := j * decSlot
		if validity != nil && isNull(validity, from+j) {
			*(*uint32)(unsafe.Add(s, q)) = 0xffffffff
			cur[j] += 4
			continue
		}
		lo := *(*uint64)(unsafe.Add(v, j*16))
		hi := *(*uint64)(unsafe.Add(v, j*16+8))
		if hi != uint64(int64(lo)>>63) || int64(lo) == math.MinInt64 {
			return false
		}
		n := putNumericDigits(s, q, lo, scale, d, pad, fg)
		cur[j] += n - q
	}
	return true
}

// putNumericDigits stores the length-prefixed binary numeric of the int64
// lo / 10^scale (d = 10^scale, pad = 10^(4*fg-scale), fg fraction digits
// in base 10000) at base+p, which has fastDecRoom bytes, and returns the
// position after it. It writes what appendNumericInt64 appends.
func putNumericDigits(base unsafe.Pointer, p int, lo uint64, scale int, d, pad uint64, fg int) int {
	sign := uint64(numPos)
	u := lo
	if int64(lo) < 0 {
		sign, u = numNeg, -lo
	}
	if u == 0 {
		store32(base, p, 8)
		store64(base, p+4, uint64(scale)) // no digits, weight 0, positive
		return p + 12
	}
	// Base-10000 digits, least significant first, into g[k:]: the
	// fraction padded to whole digits, then the integer part.
	var g [9]uint16
	k := len(g)
	ip := u / d
	fp := (u - ip*d) * pad
	for f := fg; f > 0; f-- {
		k--
		q := fp / 10000
		g[k] = uint16(fp - q*10000)
		fp = q
	}
	weight := -1
	for ip > 0 {
		k--
		q := ip / 10000
		g[k] = uint16(ip - q*10000)
		ip = q
		weight++
	}
	for g[k] == 0 { // u != 0, so some digit is not
		k++
		weight--
	}
	last := len(g)
	for g[last-1] == 0 {
		last--
	}
	nd := last - k
	store32(base, p, uint32(8+2*nd))
	store64(base, p+4, uint64(nd)<<48|uint64(uint16(weight))<<32|sign<<16|uint64(scale))
	p += 12
	for ; k < last; k++ {
		store16(base, p, g[k])
		p += 2
	}
	return p
}

// putW8 stores each row's 8-byte field (or NULL) at its cursor; ts
// converts Arrow timestamps to PostgreSQL's epoch.
func putW8(base unsafe.Pointer, cur []int, values, validity []byte, from int, ts bool) {
	_ = values[len(cur)*8-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		if validity != nil && isNull(validity, from+j) {
			*(*uint32)(unsafe.Add(base, q)) = 0xffffffff
			cur[j] = q + 4
			continue
		}
		x := *(*uint64)(unsafe.Add(v, j*8))
		if ts && int64(x) != math.MaxInt64 && int64(x) != math.MinInt64 {
			x -= uint64(EpochMicros)
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x08000000 // 8, big-endian
		store64(base, q+4, x)
		cur[j] = q + 12
	}
}

// putW4 stores each row's 4-byte field (or NULL); date converts Arrow
// dates to PostgreSQL's epoch.
func putW4(base unsafe.Pointer, cur []int, values, validity []byte, from int, date bool) {
	_ = values[len(cur)*4-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		if validity != nil && isNull(validity, from+j) {
			*(*uint32)(unsafe.Add(base, q)) = 0xffffffff
			cur[j] = q + 4
			continue
		}
		x := *(*uint32)(unsafe.Add(v, j*4))
		if date && int32(x) != math.MaxInt32 && int32(x) != math.MinInt32 {
			x -= uint32(EpochDays)
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x04000000 // 4, big-endian
		store32(base, q+4, x)
		cur[j] = q + 8
	}
}

// putW2 stores each row's 2-byte field (or NULL).
func putW2(base unsafe.Pointer, cur []int, values, validity []byte, from int) {
	_ = values[len(cur)*2-1]
	v := unsafe.Pointer(unsafe.SliceData(values))
	for j, q := range cur {
		if validity != nil && isNull(validity, from+j) {
			*(*uint32)(unsafe.Add(base, q)) = 0xffffffff
			cur[j] = q + 4
			continue
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x02000000 // 2, big-endian
		store16(base, q+4, *(*uint16)(unsafe.Add(v, j*2)))
		cur[j] = q + 6
	}
}

// putBool stores each row's bool field (or NULL); values is the whole
// bit-packed buffer.
func putBool(base unsafe.Pointer, cur []int, values, validity []byte, from int) {
	for j, q := range cur {
		i := from + j
		if validity != nil && isNull(validity, i) {
			*(*uint32)(unsafe.Add(base, q)) = 0xffffffff
			cur[j] = q + 4
			continue
		}
		*(*uint32)(unsafe.Add(base, q)) = 0x01000000 // 1, big-endian
		*(*byte)(unsafe.Add(base, q+4)) = (values[i>>3] >> (uint(i) & 7)) & 1
		cur[j] = q + 5
	}
}

// putBytes stores each row's utf8 / binary field (or NULL); offs holds
// the offsets of the rows and the one after, data is the whole data
// buffer. Values are copied by words (runtime.memmove would be a call per
// value); the last word overlaps the previous one, and values under 8
// bytes go byte by byte.
func putBytes(base unsafe.Pointer, cur []int, offs, data, validity []byte, from int) {
	_ = offs[len(cur)*4+3]
	o := unsafe.Pointer(unsafe.SliceData(offs))
	for j, q := range cur {
		if validity != nil && isNull(validity, from+j) {
			*(*uint32)(unsafe.Add(base, q)) = 0xffffffff
			cur[j] = q + 4
			continue
		}
		s := int(*(*int32)(unsafe.Add(o, j*4)))
		e := int(*(*int32)(unsafe.Add(o, j*4+4)))
		v := data[s:e]
		n := len(v)
		store32(base, q, uint32(n))
		q += 4
		if n >= 8 {
			src := unsafe.Pointer(unsafe.SliceData(v))
			for k := 0; k < n-8; k += 8 {
				*(*uint64)(unsafe.Add(base, q+k)) = *(*uint64)(unsafe.Add(src, k))
			}
			*(*uint64)(unsafe.Add(base, q+n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		} else {
			for k, b := range v {
				*(*byte)(unsafe.Add(base, q+k)) = b
			}
		}
		cur[j] = q + n
	}
}

// putSlots copies each row's field from its decSlot slot of slots (a
// length-prefixed value of at least 8 bytes, or a NULL) by words.
func putSlots(base unsafe.Pointer, cur []int, slots []byte) {
	_ = slots[len(cur)*decSlot-1]
	s := unsafe.Pointer(unsafe.SliceData(slots))
	for j, q := range cur {
		src := unsafe.Add(s, j*decSlot)
		l := *(*uint32)(src)
		if l == 0xffffffff {
			*(*uint32)(unsafe.Add(base, q)) = l
			cur[j] = q + 4
			continue
		}
		n := 4 + int(bits.ReverseBytes32(l))
		for k := 0; k < n-8; k += 8 {
			*(*uint64)(unsafe.Add(base, q+k)) = *(*uint64)(unsafe.Add(src, k))
		}
		*(*uint64)(unsafe.Add(base, q+n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		cur[j] = q + n
	}
}
