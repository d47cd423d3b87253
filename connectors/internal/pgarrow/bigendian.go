package pgarrow

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// littleEndian reports whether the host stores integers little-endian (it
// does on amd64, arm64 and wasm).
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// appendBE16, appendBE32 and appendBE64 append v big-endian, as
// binary.BigEndian.AppendUint* do. With room in b on a little-endian host
// they use one unaligned store of the byte-swapped value: the Go wasm
// backend compiles binary.BigEndian.AppendUint64 into eight byte appends,
// each with its own bounds and capacity checks, and COPY encoding runs
// through these for every value.
func appendBE16(b []byte, v uint16) []byte {
	n := len(b)
	if littleEndian && cap(b)-n >= 2 {
		b = b[:n+2]
		*(*uint16)(unsafe.Pointer(&b[n])) = bits.ReverseBytes16(v)
		return b
	}
	return binary.BigEndian.AppendUint16(b, v)
}

func appendBE32(b []byte, v uint32) []byte {
	n := len(b)
	if littleEndian && cap(b)-n >= 4 {
		b = b[:n+4]
		*(*uint32)(unsafe.Pointer(&b[n])) = bits.ReverseBytes32(v)
		return b
	}
	return binary.BigEndian.AppendUint32(b, v)
}

func appendBE64(b []byte, v uint64) []byte {
	n := len(b)
	if littleEndian && cap(b)-n >= 8 {
		b = b[:n+8]
		*(*uint64)(unsafe.Pointer(&b[n])) = bits.ReverseBytes64(v)
		return b
	}
	return binary.BigEndian.AppendUint64(b, v)
}
