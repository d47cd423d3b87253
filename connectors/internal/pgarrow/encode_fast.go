package pgarrow

import (
	"fmt"
	"math/bits"
	"slices"
	"unsafe"
)

// RawColumn is an optional Reader extension exposing the column's Arrow
// buffers (as batch.ColumnView does). AppendRows encodes the common
// fixed-width, bool and string conversions straight from these buffers,
// without a function or interface call per value: in a wasm guest those
// calls, not the byte shuffling, dominated COPY encoding.
type RawColumn interface {
	// Values returns the values buffer (bit-packed for bool, data for
	// utf8 and binary).
	Values() []byte
	// Offsets returns the int32 offsets buffer of a utf8 or binary column.
	Offsets() []byte
	// NullCount returns the number of nulls.
	NullCount() int
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
	}
	return fastNone
}

// rawCol is one column's state during AppendRows.
type rawCol struct {
	kind    fastKind
	nulls   bool
	values  []byte
	offsets []byte
}

// setRaw fills e.raw for cols: a column gets its inline conversion when
// it has one and its reader is a RawColumn.
func (e *Encoder) setRaw(cols []Reader) {
	if cap(e.raw) < len(e.fns) {
		e.raw = make([]rawCol, len(e.fns))
	}
	e.raw = e.raw[:len(e.fns)]
	for c := range e.fns {
		rc := rawCol{kind: e.fast[c]}
		if rc.kind != fastNone {
			// Inline conversions read Arrow's little-endian buffers with
			// native loads.
			if r, ok := cols[c].(RawColumn); ok {
				rc.values, rc.offsets, rc.nulls = r.Values(), r.Offsets(), r.NullCount() > 0
			} else {
				rc.kind = fastNone
			}
		}
		e.raw[c] = rc
	}
}

// fixedWidth is the encoded value size of an inline conversion (0 for
// variable-length ones).
func (k fastKind) fixedWidth() int {
	switch k {
	case fastW2:
		return 2
	case fastW4, fastDate:
		return 4
	case fastW8, fastTS:
		return 8
	case fastBool:
		return 1
	}
	return 0
}

// appendRowsInline is AppendRows on a little-endian host. dst always has
// room for the fixed-size part of a row (re-checked after every
// variable-length value), so inline conversions store straight into it;
// the others go through their encodeFunc.
func (e *Encoder) appendRowsInline(dst []byte, cols []Reader, from, to int) ([]byte, error) {
	n := len(e.fns)
	room := 2
	for c := range e.raw {
		room += 4 + e.raw[c].kind.fixedWidth()
	}
	for i := from; i < to; i++ {
		if cap(dst)-len(dst) < room {
			dst = slices.Grow(dst, room+len(dst)/4)
		}
		p := len(dst)
		dst = dst[:p+2]
		*(*uint16)(unsafe.Pointer(&dst[p])) = bits.ReverseBytes16(uint16(n))
		for c := range e.raw {
			rc := &e.raw[c]
			if rc.kind == fastNone || rc.nulls && cols[c].IsNull(i) {
				if cols[c].IsNull(i) {
					dst = append(dst, 0xff, 0xff, 0xff, 0xff)
					continue
				}
				var err error
				if dst, err = e.fns[c](dst, cols[c], i); err != nil {
					return dst, fmt.Errorf("row %d column %d: %w", i, c, err)
				}
				if cap(dst)-len(dst) < room {
					dst = slices.Grow(dst, room+len(dst)/4)
				}
				continue
			}
			p := len(dst)
			switch rc.kind {
			case fastW2:
				_ = rc.values[i*2+1]
				v := *(*uint16)(unsafe.Pointer(&rc.values[i*2]))
				dst = dst[:p+6]
				*(*uint32)(unsafe.Pointer(&dst[p])) = 0x02000000 // 2, big-endian
				*(*uint16)(unsafe.Pointer(&dst[p+4])) = bits.ReverseBytes16(v)
			case fastW4, fastDate:
				_ = rc.values[i*4+3]
				v := *(*uint32)(unsafe.Pointer(&rc.values[i*4]))
				if rc.kind == fastDate {
					v = uint32(DateFromArrow(int32(v)))
				}
				dst = dst[:p+8]
				*(*uint32)(unsafe.Pointer(&dst[p])) = 0x04000000 // 4, big-endian
				*(*uint32)(unsafe.Pointer(&dst[p+4])) = bits.ReverseBytes32(v)
			case fastW8, fastTS:
				_ = rc.values[i*8+7]
				v := *(*uint64)(unsafe.Pointer(&rc.values[i*8]))
				if rc.kind == fastTS {
					v = uint64(TimestampFromArrow(int64(v)))
				}
				dst = dst[:p+12]
				*(*uint32)(unsafe.Pointer(&dst[p])) = 0x08000000 // 8, big-endian
				*(*uint64)(unsafe.Pointer(&dst[p+4])) = bits.ReverseBytes64(v)
			case fastBool:
				dst = dst[:p+5]
				*(*uint32)(unsafe.Pointer(&dst[p])) = 0x01000000 // 1, big-endian
				dst[p+4] = (rc.values[i>>3] >> (uint(i) & 7)) & 1
			case fastBytes:
				_ = rc.offsets[i*4+7]
				s := int(*(*int32)(unsafe.Pointer(&rc.offsets[i*4])))
				e := int(*(*int32)(unsafe.Pointer(&rc.offsets[i*4+4])))
				v := rc.values[s:e]
				dst = dst[:p+4]
				*(*uint32)(unsafe.Pointer(&dst[p])) = bits.ReverseBytes32(uint32(len(v)))
				dst = append(dst, v...)
				if cap(dst)-len(dst) < room {
					dst = slices.Grow(dst, room+len(dst)/4)
				}
			}
		}
	}
	return dst, nil
}

// appendLenBE64 appends the field length 8 and v big-endian.
func appendLenBE64(b []byte, v uint64) []byte {
	n := len(b)
	if littleEndian && cap(b)-n >= 12 {
		b = b[:n+12]
		*(*uint32)(unsafe.Pointer(&b[n])) = 0x08000000 // 8, big-endian
		*(*uint64)(unsafe.Pointer(&b[n+4])) = bits.ReverseBytes64(v)
		return b
	}
	return appendBE64(appendBE32(b, 8), v)
}
