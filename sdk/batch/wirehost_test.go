package batch

import (
	"encoding/binary"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/wireloops"
	"github.com/rapidbyte/rapidbyte/sdk/wirerows"
)

// TestWireRowsInHost runs the wire-row tests again with the loops run by
// the host's code (package wirerows, the wire_rows import), over a copy of
// the arguments laid out as in a guest's memory: both must give the same
// batches and the same errors.
func TestWireRowsInHost(t *testing.T) {
	wireloops.Host = arenaLoops{t}
	t.Cleanup(func() { wireloops.Host = nil })
	t.Run("matches appenders", TestAppendWireRowsMatchesAppenders)
	t.Run("errors", TestAppendWireRowErrors)
	t.Run("bounds", TestAppendWireRowsBounds)
	t.Run("fixed", TestAppendWireRowsFixed)
	t.Run("versioned bytes", TestAppendWireRowsVersionedBytes)
	t.Run("bytes lengths", TestAppendWireRowsBytesLengths)
	t.Run("then typed null", TestAppendWireRowsThenTypedNull)
	t.Run("estimate", TestFullEstimateBoundsByteSize)
}

// arenaLoops runs wirerows over an arena: the rows, their slice headers,
// the locations and the output buffer copied in at their own addresses,
// and the outputs copied back.
type arenaLoops struct{ t *testing.T }

type arena struct {
	mem  []byte
	args [abi.WireArgsWords]uint64
}

func (a *arena) put(b []byte) uint64 {
	at := uint64(len(a.mem))
	a.mem = append(a.mem, b...)
	for len(a.mem)%8 != 0 {
		a.mem = append(a.mem, 0xAA) // junk between regions
	}
	return at
}

func newArena(rows [][]byte, locs []uint64, stride int) (*arena, uint64) {
	a := &arena{mem: make([]byte, 8)} // address 0 holds nothing
	var hdrs []byte
	for _, r := range rows {
		at := a.put(r)
		hdrs = binary.LittleEndian.AppendUint64(hdrs, at)
		hdrs = binary.LittleEndian.AppendUint64(hdrs, uint64(len(r)))
		hdrs = binary.LittleEndian.AppendUint64(hdrs, uint64(cap(r)))
	}
	a.args[abi.WireArgRows] = a.put(hdrs)
	a.args[abi.WireArgNRows] = uint64(len(rows))
	locsAt := a.put(locsBytes(locs))
	a.args[abi.WireArgLocs], a.args[abi.WireArgStride] = locsAt, uint64(stride)
	return a, locsAt
}

func locsBytes(locs []uint64) []byte {
	var b []byte
	for _, l := range locs {
		b = binary.LittleEndian.AppendUint64(b, l)
	}
	return b
}

func (a *arena) run(t *testing.T, op abi.WireRowsOp) {
	if err := wirerows.Run(a.mem, op, a.args[:]); err != nil {
		t.Fatalf("wirerows op %d: %v", op, err)
	}
}

func (a *arena) out(i int) int { return int(int64(a.args[abi.WireArgOut+i])) }

// Encode leaves the encoding loops (package wirefields) to the caller.
func (arenaLoops) Encode(int32, *wireloops.EncodeArgs) bool { return false }

func (l arenaLoops) Locate(rows [][]byte, locs []uint64, ncols, budget, rowSize int, nonEmpty bool) (int, int, int, bool) {
	a, at := newArena(rows, locs, ncols)
	in := a.args[abi.WireArgIn:]
	in[0], in[1], in[2] = uint64(ncols), uint64(int64(budget)), uint64(rowSize)
	if nonEmpty {
		in[3] = 1
	}
	a.run(l.t, abi.WireRowsLocate)
	for i := range locs {
		locs[i] = binary.LittleEndian.Uint64(a.mem[at+8*uint64(i):])
	}
	return a.out(0), a.out(1), a.out(2), true
}

func (l arenaLoops) Fixed(op int32, dst []byte, rows [][]byte, locs []uint64, stride int, shift int64) (int, int, bool) {
	a, _ := newArena(rows, locs, stride)
	at := a.put(dst)
	in := a.args[abi.WireArgIn:]
	in[0], in[1], in[2] = at, uint64(len(dst)), uint64(shift)
	a.run(l.t, abi.WireRowsOp(op))
	copy(dst, a.mem[at:])
	return a.out(0), a.out(1), true
}

func (l arenaLoops) Bool(bm []byte, i0 int, rows [][]byte, locs []uint64, stride int) (int, int, bool) {
	a, _ := newArena(rows, locs, stride)
	at := a.put(bm)
	in := a.args[abi.WireArgIn:]
	in[0], in[1], in[2] = at, uint64(len(bm)), uint64(i0)
	a.run(l.t, abi.WireRowsBool)
	copy(bm, a.mem[at:])
	return a.out(0), a.out(1), true
}

func (l arenaLoops) Bytes(values []byte, start int, offsets []byte, rows [][]byte, locs []uint64, stride int, versioned bool, version byte) (int, int, int, bool) {
	a, _ := newArena(rows, locs, stride)
	vat, oat := a.put(values), a.put(offsets)
	in := a.args[abi.WireArgIn:]
	in[0], in[1], in[2] = vat, uint64(len(values)), uint64(start)
	in[3], in[4], in[5] = oat, uint64(len(offsets)), uint64(version)
	op := abi.WireRowsBytes
	if versioned {
		op = abi.WireRowsVersionedBytes
	}
	a.run(l.t, op)
	copy(values, a.mem[vat:vat+uint64(len(values))])
	copy(offsets, a.mem[oat:])
	return a.out(0), a.out(1), a.out(2), true
}

func (l arenaLoops) BytesSize(rows [][]byte, locs []uint64, stride int) (int, bool) {
	a, _ := newArena(rows, locs, stride)
	a.run(l.t, abi.WireRowsBytesSize)
	return a.out(0), true
}
