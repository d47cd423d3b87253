//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/wireloops"
)

//go:wasmimport rapidbyte wire_rows
func rbWireRows(op int32, args unsafe.Pointer, words uint32) int32

func init() { wireloops.Host = hostWireLoops{} }

// hostWireLoops runs batch.Builder.AppendWireRows' loops in the host (the
// wire_rows import): natively, about five times faster than this guest
// runs them (docs/rationale.md).
type hostWireLoops struct{}

type wireArgs [abi.WireArgsWords]uint64

func addr[T any](s []T) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(s)))) }

func newWireArgs(rows [][]byte, locs []uint64, stride int) *wireArgs {
	a := new(wireArgs)
	a[abi.WireArgRows], a[abi.WireArgNRows] = addr(rows), uint64(len(rows))
	a[abi.WireArgLocs], a[abi.WireArgStride] = addr(locs), uint64(stride)
	return a
}

func (a *wireArgs) run(op abi.WireRowsOp) bool {
	return rbWireRows(int32(op), unsafe.Pointer(a), abi.WireArgsWords) == 0
}

func (a *wireArgs) out(i int) int { return int(int64(a[abi.WireArgOut+i])) }

func (hostWireLoops) Locate(rows [][]byte, locs []uint64, ncols, budget, rowSize int, nonEmpty bool) (n, size, bad int, ok bool) {
	a := newWireArgs(rows, locs, ncols)
	in := a[abi.WireArgIn:]
	in[0], in[1], in[2] = uint64(ncols), uint64(int64(budget)), uint64(rowSize)
	if nonEmpty {
		in[3] = 1
	}
	ok = a.run(abi.WireRowsLocate)
	runtime.KeepAlive(rows)
	runtime.KeepAlive(locs)
	return a.out(0), a.out(1), a.out(2), ok
}

func (hostWireLoops) Fixed(op int32, dst []byte, rows [][]byte, locs []uint64, stride int, shift int64) (nulls, bad int, ok bool) {
	a := newWireArgs(rows, locs, stride)
	in := a[abi.WireArgIn:]
	in[0], in[1], in[2] = addr(dst), uint64(len(dst)), uint64(shift)
	ok = a.run(abi.WireRowsOp(op))
	runtime.KeepAlive(dst)
	runtime.KeepAlive(rows)
	runtime.KeepAlive(locs)
	return a.out(0), a.out(1), ok
}

func (hostWireLoops) Bool(bm []byte, i0 int, rows [][]byte, locs []uint64, stride int) (nulls, bad int, ok bool) {
	a := newWireArgs(rows, locs, stride)
	in := a[abi.WireArgIn:]
	in[0], in[1], in[2] = addr(bm), uint64(len(bm)), uint64(i0)
	ok = a.run(abi.WireRowsBool)
	runtime.KeepAlive(bm)
	runtime.KeepAlive(rows)
	runtime.KeepAlive(locs)
	return a.out(0), a.out(1), ok
}

func (hostWireLoops) Bytes(values []byte, start int, offsets []byte, rows [][]byte, locs []uint64, stride int, versioned bool, version byte) (end, nulls, bad int, ok bool) {
	a := newWireArgs(rows, locs, stride)
	in := a[abi.WireArgIn:]
	in[0], in[1], in[2] = addr(values), uint64(len(values)), uint64(start)
	in[3], in[4], in[5] = addr(offsets), uint64(len(offsets)), uint64(version)
	op := abi.WireRowsBytes
	if versioned {
		op = abi.WireRowsVersionedBytes
	}
	ok = a.run(op)
	runtime.KeepAlive(values)
	runtime.KeepAlive(offsets)
	runtime.KeepAlive(rows)
	runtime.KeepAlive(locs)
	return a.out(0), a.out(1), a.out(2), ok
}

func (hostWireLoops) BytesSize(rows [][]byte, locs []uint64, stride int) (int, bool) {
	a := newWireArgs(rows, locs, stride)
	ok := a.run(abi.WireRowsBytesSize)
	runtime.KeepAlive(rows)
	runtime.KeepAlive(locs)
	return a.out(0), ok
}

func (hostWireLoops) Encode(op int32, e *wireloops.EncodeArgs) bool {
	var b wireArgs
	b[abi.WireEncCursors], b[abi.WireEncRows] = addr(e.Cur), uint64(len(e.Cur))
	b[abi.WireEncDst], b[abi.WireEncDstLen] = addr(e.Dst), uint64(len(e.Dst))
	b[abi.WireEncValues], b[abi.WireEncValuesLen] = addr(e.Values), uint64(len(e.Values))
	b[abi.WireEncOffsets], b[abi.WireEncOffsetsLen] = addr(e.Offsets), uint64(len(e.Offsets))
	b[abi.WireEncValidity], b[abi.WireEncValidityLen] = addr(e.Validity), uint64(len(e.Validity))
	b[abi.WireEncFirst], b[abi.WireEncParam], b[abi.WireEncWidth] = uint64(e.First), uint64(e.Param), uint64(e.Width)
	ok := b.run(abi.WireRowsOp(op))
	runtime.KeepAlive(e.Cur)
	runtime.KeepAlive(e.Dst)
	runtime.KeepAlive(e.Values)
	runtime.KeepAlive(e.Offsets)
	runtime.KeepAlive(e.Validity)
	return ok
}
