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

// appendRowsInline is AppendRows on a little-endian host. encodeInline
// does the work; this loop only grows the buffer and encodes the values
// encodeInline stops at (columns without an inline conversion, decimals
// beyond 64 bits).
func (e *Encoder) appendRowsInline(dst []byte, cols []Reader, from, to int) ([]byte, error) {
	raw := e.raw
	room := 2
	for c := range raw {
		room += raw[c].kind.room()
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
				// The binary numeric of lo / 10^scale, as appendNumericInt64
				// writes it.
				scale := rc.scale
				sign := uint64(numPos)
				u := lo
				if int64(lo) < 0 {
					sign, u = numNeg, -lo
				}
				if u == 0 {
					store32(base, p, 8)
					store64(base, p+4, uint64(scale)) // no digits, weight 0, positive
					p += 12
					continue
				}
				// Base-10000 digits, least significant first, into g[k:]:
				// the fraction padded to whole digits, then the integer
				// part.
				var g [9]uint16
				k := len(g)
				ip := u
				if scale > 0 {
					d := pow10u64[scale]
					ip = u / d
					fp := (u - ip*d) * pow10u64[(scale+3)&^3-scale]
					for fg := (scale + 3) >> 2; fg > 0; fg-- {
						k--
						q := fp / 10000
						g[k] = uint16(fp - q*10000)
						fp = q
					}
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
