package pgarrow

import (
	"math/bits"
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
			if r, ok := cols[c].(RawColumn); ok && littleEndian {
				rc.values, rc.offsets, rc.nulls = r.Values(), r.Offsets(), r.NullCount() > 0
			} else {
				rc.kind = fastNone
			}
		}
		e.raw[c] = rc
	}
}

// appendFast appends value i of rc (known non-null) as a COPY field.
// It panics, like the Reader accessors, when a buffer is too short.
func appendFast(dst []byte, rc *rawCol, i int) []byte {
	switch rc.kind {
	case fastW2:
		v := rc.values[i*2 : i*2+2]
		return appendBE16(appendBE32(dst, 2), *(*uint16)(unsafe.Pointer(&v[0])))
	case fastW4:
		v := rc.values[i*4 : i*4+4]
		return appendBE32(appendBE32(dst, 4), *(*uint32)(unsafe.Pointer(&v[0])))
	case fastW8:
		v := rc.values[i*8 : i*8+8]
		return appendLenBE64(dst, *(*uint64)(unsafe.Pointer(&v[0])))
	case fastTS:
		v := rc.values[i*8 : i*8+8]
		return appendLenBE64(dst, uint64(TimestampFromArrow(*(*int64)(unsafe.Pointer(&v[0])))))
	case fastDate:
		v := rc.values[i*4 : i*4+4]
		return appendBE32(appendBE32(dst, 4), uint32(DateFromArrow(*(*int32)(unsafe.Pointer(&v[0])))))
	case fastBool:
		if rc.values[i>>3]&(1<<(uint(i)&7)) != 0 {
			return append(appendBE32(dst, 1), 1)
		}
		return append(appendBE32(dst, 1), 0)
	case fastBytes:
		o := rc.offsets[i*4 : i*4+8]
		s := int(int32(*(*uint32)(unsafe.Pointer(&o[0]))))
		e := int(int32(*(*uint32)(unsafe.Pointer(&o[4]))))
		v := rc.values[s:e]
		return append(appendBE32(dst, uint32(len(v))), v...)
	}
	panic("pgarrow: appendFast on a column without an inline conversion")
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
