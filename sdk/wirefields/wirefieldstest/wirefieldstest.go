// Package wirefieldstest runs package wirefields' loops with the host's
// code in a native test, as a wasm guest on a current host would.
package wirefieldstest

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/wireloops"
	"github.com/rapidbyte/rapidbyte/sdk/wirerows"
)

// UseHost makes package wirefields run its loops with the host's code
// (package wirerows) for the rest of t, over a copy of the arguments laid
// out as in a guest's memory, with the outputs copied back. A loop the
// host refuses fails t. The wire-row decoding of sdk/batch keeps its own
// loops. The returned function counts the loops the host ran.
func UseHost(t testing.TB) (ran func() int64) {
	prev := wireloops.Host
	h := hostLoops{t: t, ran: new(atomic.Int64)}
	wireloops.Host = h
	t.Cleanup(func() { wireloops.Host = prev })
	return h.ran.Load
}

type hostLoops struct {
	t   testing.TB
	ran *atomic.Int64
}

func (hostLoops) Locate([][]byte, []uint64, int, int, int, bool) (int, int, int, bool) {
	return 0, 0, 0, false
}

func (hostLoops) Fixed(int32, []byte, [][]byte, []uint64, int, int64) (int, int, bool) {
	return 0, 0, false
}

func (hostLoops) Bool([]byte, int, [][]byte, []uint64, int) (int, int, bool) { return 0, 0, false }

func (hostLoops) Bytes([]byte, int, []byte, [][]byte, []uint64, int, bool, byte) (int, int, int, bool) {
	return 0, 0, 0, false
}

func (hostLoops) BytesSize([][]byte, []uint64, int) (int, bool) { return 0, false }

// Encode copies the arguments into a fresh memory, each region after junk
// bytes, runs the op there, and copies the cursors and dst back.
func (h hostLoops) Encode(op int32, a *wireloops.EncodeArgs) bool {
	h.t.Helper()
	mem := make([]byte, 8) // address 0 holds nothing
	put := func(b []byte) uint64 {
		at := uint64(len(mem))
		mem = append(mem, b...)
		mem = append(mem, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA)
		return at
	}
	cur := make([]byte, 0, 8*len(a.Cur))
	for _, c := range a.Cur {
		cur = binary.LittleEndian.AppendUint64(cur, uint64(c))
	}
	var b [abi.WireArgsWords]uint64
	b[abi.WireEncCursors], b[abi.WireEncRows] = put(cur), uint64(len(a.Cur))
	b[abi.WireEncDst], b[abi.WireEncDstLen] = put(a.Dst), uint64(len(a.Dst))
	b[abi.WireEncValues], b[abi.WireEncValuesLen] = put(a.Values), uint64(len(a.Values))
	b[abi.WireEncOffsets], b[abi.WireEncOffsetsLen] = put(a.Offsets), uint64(len(a.Offsets))
	b[abi.WireEncValidity], b[abi.WireEncValidityLen] = put(a.Validity), uint64(len(a.Validity))
	b[abi.WireEncFirst], b[abi.WireEncParam], b[abi.WireEncWidth] = uint64(a.First), uint64(a.Param), uint64(a.Width)
	if err := wirerows.Run(mem, abi.WireRowsOp(op), b[:]); err != nil {
		h.t.Fatalf("wire_rows encoding op %d: %v", op, err)
		return false
	}
	h.ran.Add(1)
	copy(a.Dst, mem[b[abi.WireEncDst]:])
	for j := range a.Cur {
		a.Cur[j] = int(int64(binary.LittleEndian.Uint64(mem[b[abi.WireEncCursors]+uint64(8*j):])))
	}
	return true
}
