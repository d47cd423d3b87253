// Package wirerows runs the loops of the SDK's wire-row decoding
// (sdk/batch.Builder.AppendWireRows) and wire-field encoding (package
// sdk/wirefields) natively for a guest, over its memory: the wire_rows host
// import (see abi.WireRowsOp for the ops and their argument blocks).
//
// Every access goes through a bounds-checked slice of the guest's memory,
// so whatever a guest passes, the loops touch nothing else; an address out
// of range is an error (Run recovers the index panic). The semantics match
// the guest's own Go loops, which sdk/batch keeps for native builds and
// tests (TestMatchesGuestLoops compares them).
package wirerows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrBadOp is returned for an unknown op.
var ErrBadOp = errors.New("wirerows: unknown op")

// ErrOutOfRange is returned when an address or length in the block lies
// outside the guest's memory.
var ErrOutOfRange = errors.New("wirerows: memory out of range")

// Run runs op over mem (the guest's memory) with args, the op's block of
// abi.WireArgsWords words, and stores a decoding op's results in args (an
// encoding op has none).
func Run(mem []byte, op abi.WireRowsOp, args []uint64) (err error) {
	if len(args) < abi.WireArgsWords {
		return fmt.Errorf("wirerows: %d-word block, want %d", len(args), abi.WireArgsWords)
	}
	defer func() {
		if recover() != nil {
			err = ErrOutOfRange
		}
	}()
	if op >= abi.WireEncodeFixed {
		return encode(mem, op, args)
	}
	in, out := args[abi.WireArgIn:abi.WireArgOut], args[abi.WireArgOut:abi.WireArgsWords]
	// Every count is bounded by the memory before it is multiplied, so no
	// product wraps and no loop runs longer than the memory is large (a
	// host function cannot be interrupted).
	nrows, stride := args[abi.WireArgNRows], args[abi.WireArgStride]
	maxLocs := uint64(len(mem)) / 8
	if nrows > uint64(len(mem))/24 || stride > maxLocs {
		return ErrOutOfRange
	}
	rs := rowSet{mem: mem, hdrs: span(mem, args[abi.WireArgRows], nrows*24), n: int(nrows)}
	nlocs := uint64(0)
	if nrows > 0 {
		nlocs = (nrows-1)*stride + 1 // < 2^64: both factors are at most len(mem)
	}
	if op == abi.WireRowsLocate {
		if in[0] > maxLocs {
			return ErrOutOfRange
		}
		nlocs = nrows * in[0]
	}
	if nlocs > maxLocs {
		return ErrOutOfRange
	}
	locs := locSet{b: span(mem, args[abi.WireArgLocs], nlocs*8), stride: int(stride)}
	var r0, r1, r2 int
	switch op {
	case abi.WireRowsLocate:
		r0, r1, r2 = locate(rs, locs.b, int(in[0]), int64(in[1]), int(in[2]), in[3] != 0)
	case abi.WireRowsBE16, abi.WireRowsBE32, abi.WireRowsBE64, abi.WireRowsBE32Shift, abi.WireRowsBE64Shift:
		r0, r1 = fixed(op, span(mem, in[0], in[1]), rs, locs, int64(in[2]))
	case abi.WireRowsBool:
		r0, r1 = boolean(span(mem, in[0], in[1]), int(in[2]), rs, locs)
	case abi.WireRowsBytes, abi.WireRowsVersionedBytes:
		r0, r1, r2 = bytes(span(mem, in[0], in[1]), int(in[2]), span(mem, in[3], in[4]), rs, locs,
			op == abi.WireRowsVersionedBytes, byte(in[5]))
	case abi.WireRowsBytesSize:
		r0 = bytesSize(rs, locs)
	default:
		return fmt.Errorf("%w %d", ErrBadOp, op)
	}
	out[0], out[1], out[2] = uint64(r0), uint64(r1), uint64(r2)
	return nil
}

// span returns mem[addr:addr+n] (capacity n), panicking when it is out
// of range.
func span(mem []byte, addr, n uint64) []byte {
	if addr > uint64(len(mem)) || n > uint64(len(mem))-addr {
		panic(ErrOutOfRange)
	}
	return mem[addr : addr+n : addr+n]
}

// rowSet is the guest's rows: n slice headers of 24 bytes in hdrs.
type rowSet struct {
	mem  []byte
	hdrs []byte
	n    int
}

// row returns row r.
func (rs rowSet) row(r int) []byte {
	h := rs.hdrs[r*24 : r*24+16]
	return span(rs.mem, binary.LittleEndian.Uint64(h), binary.LittleEndian.Uint64(h[8:]))
}

// locSet is the locations of one column: row r's at b[8*r*stride:].
type locSet struct {
	b      []byte
	stride int
}

func (l locSet) at(r int) (off int, n int32) {
	loc := binary.LittleEndian.Uint64(l.b[8*r*l.stride:])
	return int(uint32(loc)), int32(loc >> 32)
}

func locate(rs rowSet, locs []byte, ncols int, budget int64, rowSize int, nonEmpty bool) (n, size, bad int) {
	for r := 0; r < rs.n; r++ {
		row := rs.row(r)
		lp := locs[8*r*ncols : 8*(r+1)*ncols]
		off := 0
		for c := 0; c+8 <= len(lp); c += 8 {
			if len(row)-off < 4 {
				return 0, 0, r
			}
			l := int32(binary.BigEndian.Uint32(row[off : off+4]))
			off += 4
			if l < -1 || int(l) > len(row)-off {
				return 0, 0, r
			}
			binary.LittleEndian.PutUint64(lp[c:c+8], uint64(uint32(off))|uint64(uint32(l))<<32)
			if l > 0 {
				off += int(l)
			}
		}
		size += off
		if budget -= int64(rowSize + off); budget < 0 && (r > 0 || nonEmpty) {
			return r, size, -1
		}
	}
	return rs.n, size, -1
}

func fixed(op abi.WireRowsOp, dst []byte, rs rowSet, locs locSet, shift int64) (nulls, bad int) {
	switch op {
	case abi.WireRowsBE16:
		return fixed16(dst[:rs.n*2], rs, locs)
	case abi.WireRowsBE32, abi.WireRowsBE32Shift:
		return fixed32(dst[:rs.n*4], rs, locs, op == abi.WireRowsBE32Shift, int32(shift))
	default: // abi.WireRowsBE64, abi.WireRowsBE64Shift
		return fixed64(dst[:rs.n*8], rs, locs, op == abi.WireRowsBE64Shift, shift)
	}
}

// The fixed-width loops store each non-NULL field, which must be exactly
// as wide as a value, at dst[r*w:] in little-endian.

func fixed16(dst []byte, rs rowSet, locs locSet) (nulls, bad int) {
	for r := 0; r < rs.n; r++ {
		o, l := locs.at(r)
		if l != 2 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		binary.LittleEndian.PutUint16(dst[2*r:2*r+2], binary.BigEndian.Uint16(rs.row(r)[o:o+2]))
	}
	return nulls, -1
}

func fixed32(dst []byte, rs rowSet, locs locSet, shifted bool, shift int32) (nulls, bad int) {
	for r := 0; r < rs.n; r++ {
		o, l := locs.at(r)
		if l != 4 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		x := binary.BigEndian.Uint32(rs.row(r)[o : o+4])
		if shifted && x != math.MaxInt32 && x != 1<<31 {
			x = uint32(int32(x) + shift)
		}
		binary.LittleEndian.PutUint32(dst[4*r:4*r+4], x)
	}
	return nulls, -1
}

func fixed64(dst []byte, rs rowSet, locs locSet, shifted bool, shift int64) (nulls, bad int) {
	for r := 0; r < rs.n; r++ {
		o, l := locs.at(r)
		if l != 8 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		x := binary.BigEndian.Uint64(rs.row(r)[o : o+8])
		if shifted && x != math.MaxInt64 && x != 1<<63 {
			s := int64(x) + shift
			if (s > int64(x)) != (shift > 0) || s == math.MaxInt64 || s == math.MinInt64 {
				return 0, r
			}
			x = uint64(s)
		}
		binary.LittleEndian.PutUint64(dst[8*r:8*r+8], x)
	}
	return nulls, -1
}

func boolean(bm []byte, i0 int, rs rowSet, locs locSet) (nulls, bad int) {
	for r := 0; r < rs.n; r++ {
		o, l := locs.at(r)
		if l != 1 {
			if l == -1 {
				nulls++
				continue
			}
			return 0, r
		}
		if rs.row(r)[o] != 0 {
			i := i0 + r
			bm[i>>3] |= 1 << (uint(i) & 7)
		}
	}
	return nulls, -1
}

func bytes(values []byte, start int, offsets []byte, rs rowSet, locs locSet, skip bool, version byte) (end, nulls, bad int) {
	pos := start
	for r := 0; r < rs.n; r++ {
		o, l := locs.at(r)
		if l < 0 {
			nulls++
		} else {
			f := rs.row(r)[o : o+int(l)]
			if skip {
				if l == 0 || f[0] != version {
					return 0, 0, r
				}
				f = f[1:]
			}
			pos += copy(values[pos:pos+len(f)], f)
		}
		binary.LittleEndian.PutUint32(offsets[r*4:], uint32(pos))
	}
	return pos, nulls, -1
}

func bytesSize(rs rowSet, locs locSet) int {
	size := 0
	for r := 0; r < rs.n; r++ {
		_, l := locs.at(r)
		size += max(int(l), 0)
	}
	return size
}
