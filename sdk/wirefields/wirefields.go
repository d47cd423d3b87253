// Package wirefields writes Arrow columns as wire fields, in the host when
// it can: the inverse of the wire-row decoding in sdk/batch, for a
// destination whose database reads rows of fields, each a 4-byte
// big-endian length (-1 for NULL) followed by that many bytes
// (PostgreSQL's binary COPY tuples; nothing here knows PostgreSQL).
//
// Each function writes one column of len(cur) rows: row j's field goes to
// dst[cur[j]:], and cur[j] advances past it; row j is NULL where validity
// (nil: no NULLs) has bit first+j clear. The caller sized every row
// (the fields must fit dst) and writes the rest of each tuple itself. In a
// wasm guest that imports package sdk the loop runs natively in the host
// (the wire_rows import's encoding ops, abi.WireEncodeFixed and the rest),
// several times faster than the guest runs it. Each function returns false
// when it did not run the loop (a native build, or a host that predates
// these ops), and the caller then runs its own.
package wirefields

import (
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/wireloops"
)

// Fixed writes little-endian values of width 2, 4 or 8 bytes (row j at
// values[j*width:]) big-endian, less shift unless a value is its width's
// minimum or maximum (the infinities of PostgreSQL's dates and
// timestamps).
func Fixed(dst []byte, cur []int, values, validity []byte, first, width int, shift int64) bool {
	return run(int32(abi.WireEncodeFixed), &wireloops.EncodeArgs{Cur: cur, Dst: dst, Values: values, Validity: validity,
		First: first, Param: shift, Width: width})
}

// Bool writes bit first+j of bitmap as row j's one-byte field, 0 or 1.
func Bool(dst []byte, cur []int, bitmap, validity []byte, first int) bool {
	return run(int32(abi.WireEncodeBool), &wireloops.EncodeArgs{Cur: cur, Dst: dst, Values: bitmap, Validity: validity, First: first})
}

// Bytes writes values[offsets[j]:offsets[j+1]] as row j's field (offsets
// holds len(cur)+1 little-endian int32s), after the byte version when
// version >= 0 (jsonb's version byte).
func Bytes(dst []byte, cur []int, offsets, values, validity []byte, first, version int) bool {
	return run(int32(abi.WireEncodeBytes), &wireloops.EncodeArgs{Cur: cur, Dst: dst, Values: values, Offsets: offsets,
		Validity: validity, First: first, Param: int64(version) + 1})
}

// Slots copies row j's field, which the caller encoded whole (length and
// bytes, or a NULL length) into slots[j*width:(j+1)*width].
func Slots(dst []byte, cur []int, slots []byte, width int) bool {
	return run(int32(abi.WireEncodeSlots), &wireloops.EncodeArgs{Cur: cur, Dst: dst, Values: slots, Width: width})
}

func run(op int32, a *wireloops.EncodeArgs) bool {
	if len(a.Cur) == 0 {
		return true
	}
	h := wireloops.Host
	return h != nil && h.Encode(op, a)
}
