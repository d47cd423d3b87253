package batch

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// BufRef is one (ptr, len) pair of an emit_batch descriptor: a range of
// guest memory.
type BufRef struct {
	Ptr, Len uint32
}

// DescriptorWords returns the number of u32 words of a descriptor with
// the given node and buffer counts.
func DescriptorWords(nodes, bufs int) int { return 3 + 2*nodes + 2*bufs }

// AppendDescriptor appends an emit_batch descriptor (see package abi) to
// dst: rows, node count, buffer count, (length, nullCount) per node and
// (ptr, len) per buffer. addr returns the guest address of a buffer (0 for
// an empty one).
func AppendDescriptor(dst []uint32, rows int, nodes []Node, bufs [][]byte, addr func([]byte) uint32) []uint32 {
	dst = append(dst, uint32(rows), uint32(len(nodes)), uint32(len(bufs)))
	for _, n := range nodes {
		dst = append(dst, uint32(n.Length), uint32(n.NullCount))
	}
	for _, b := range bufs {
		if len(b) == 0 {
			dst = append(dst, 0, 0)
			continue
		}
		dst = append(dst, addr(b), uint32(len(b)))
	}
	return dst
}

// DecodeDescriptor parses the little-endian descriptor words in desc,
// checking the node and buffer counts against schema. nodes and refs are
// reused when large enough.
func DecodeDescriptor(desc []byte, schema *Schema, nodes []Node, refs []BufRef) (rows int, _ []Node, _ []BufRef, err error) {
	if len(desc)%4 != 0 || len(desc) < 12 {
		return 0, nil, nil, invalidf("descriptor of %d bytes", len(desc))
	}
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(desc[i*4:]) }
	rows = int(w(0))
	nn, nb := int(w(1)), int(w(2))
	if nn != schema.NodeCount || nb != schema.BufferCount {
		return 0, nil, nil, invalidf("descriptor has %d nodes and %d buffers, schema needs %d and %d",
			nn, nb, schema.NodeCount, schema.BufferCount)
	}
	if len(desc)/4 != DescriptorWords(nn, nb) {
		return 0, nil, nil, invalidf("descriptor has %d words, want %d", len(desc)/4, DescriptorWords(nn, nb))
	}
	nodes, refs = nodes[:0], refs[:0]
	for i := 0; i < nn; i++ {
		nodes = append(nodes, Node{Length: int(w(3 + 2*i)), NullCount: int(w(4 + 2*i))})
	}
	base := 3 + 2*nn
	for i := 0; i < nb; i++ {
		refs = append(refs, BufRef{Ptr: w(base + 2*i), Len: w(base + 2*i + 1)})
	}
	return rows, nodes, refs, nil
}

func pad8(n int) int { return (n + 7) &^ 7 }

// FrameSize returns the byte length of the frame EncodeFrame produces.
func FrameSize(nodes []Node, bufs [][]byte, meta []byte) int {
	n := pad8(4 * (4 + 2*len(nodes) + 2*len(bufs) + 2))
	for _, b := range bufs {
		n += pad8(len(b))
	}
	return n + len(meta)
}

// EncodeFrame appends a next_batch frame (see package abi) holding rows,
// nodes, bufs and the metadata meta (a Checkpoint JSON, or empty) to dst and
// returns the extended slice.
func EncodeFrame(dst []byte, rows int, nodes []Node, bufs [][]byte, meta []byte) []byte {
	size := FrameSize(nodes, bufs, meta)
	start := len(dst)
	if cap(dst)-start < size {
		grown := make([]byte, start, start+size)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+size]
	PutFrame(dst[start:], rows, nodes, bufs, meta)
	return dst
}

// PutFrame writes a frame into dst, which must be at least FrameSize bytes
// (for example a view of guest memory), and returns the bytes written.
func PutFrame(dst []byte, rows int, nodes []Node, bufs [][]byte, meta []byte) int {
	put := func(i int, v uint32) { binary.LittleEndian.PutUint32(dst[i*4:], v) }
	put(0, abi.FrameMagic)
	put(1, uint32(rows))
	put(2, uint32(len(nodes)))
	put(3, uint32(len(bufs)))
	for i, n := range nodes {
		put(4+2*i, uint32(n.Length))
		put(5+2*i, uint32(n.NullCount))
	}
	words := 4 + 2*len(nodes)
	off := pad8(4 * (words + 2*len(bufs) + 2))
	clear(dst[4*(words+2*len(bufs)+2) : off])
	for i, b := range bufs {
		put(words+2*i, uint32(off))
		put(words+2*i+1, uint32(len(b)))
		copy(dst[off:], b)
		p := pad8(len(b))
		clear(dst[off+len(b) : off+p])
		off += p
	}
	put(words+2*len(bufs), uint32(off))
	put(words+2*len(bufs)+1, uint32(len(meta)))
	copy(dst[off:], meta)
	return off + len(meta)
}

// ParseFrame splits a frame into its row count, nodes, buffers (slices of
// frame) and metadata, checking magic, counts and every range against the
// frame and schema. It does not check the buffer contents; see Validate.
func ParseFrame(frame []byte, schema *Schema, nodes []Node, bufs [][]byte) (rows int, _ []Node, _ [][]byte, meta []byte, err error) {
	if len(frame) < 16 {
		return 0, nil, nil, nil, invalidf("frame of %d bytes", len(frame))
	}
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(frame[i*4:]) }
	if w(0) != abi.FrameMagic {
		return 0, nil, nil, nil, invalidf("bad frame magic %#x", w(0))
	}
	rows = int(w(1))
	nn, nb := int(w(2)), int(w(3))
	if nn != schema.NodeCount || nb != schema.BufferCount {
		return 0, nil, nil, nil, invalidf("frame has %d nodes and %d buffers, schema needs %d and %d",
			nn, nb, schema.NodeCount, schema.BufferCount)
	}
	words := 4 + 2*nn + 2*nb + 2
	if len(frame) < words*4 {
		return 0, nil, nil, nil, invalidf("frame of %d bytes is shorter than its header", len(frame))
	}
	nodes, bufs = nodes[:0], bufs[:0]
	for i := 0; i < nn; i++ {
		nodes = append(nodes, Node{Length: int(w(4 + 2*i)), NullCount: int(w(5 + 2*i))})
	}
	rng := func(off, n uint32) ([]byte, error) {
		if uint64(off)+uint64(n) > uint64(len(frame)) {
			return nil, invalidf("frame range [%d, +%d) beyond %d bytes", off, n, len(frame))
		}
		return frame[off : off+n : off+n], nil
	}
	base := 4 + 2*nn
	for i := 0; i < nb; i++ {
		b, err := rng(w(base+2*i), w(base+2*i+1))
		if err != nil {
			return 0, nil, nil, nil, err
		}
		bufs = append(bufs, b)
	}
	meta, err = rng(w(base+2*nb), w(base+2*nb+1))
	if err != nil {
		return 0, nil, nil, nil, err
	}
	return rows, nodes, bufs, meta, nil
}

// Validate checks that rows, nodes and bufs form a valid batch of schema:
// node and buffer counts, every top-level length equal to rows, null counts
// within lengths, a validity bitmap whenever a node has nulls, buffer sizes
// large enough for the lengths, offsets starting at 0 or more,
// non-decreasing, and within the data or child length. It never panics.
func Validate(schema *Schema, rows int, nodes []Node, bufs [][]byte) error {
	if len(nodes) != schema.NodeCount || len(bufs) != schema.BufferCount {
		return invalidf("%d nodes and %d buffers, schema needs %d and %d", len(nodes), len(bufs), schema.NodeCount, schema.BufferCount)
	}
	if rows < 0 || rows > math.MaxInt32 {
		return invalidf("row count %d", rows)
	}
	ni, bi := 0, 0
	for f, t := range schema.Types {
		if nodes[ni].Length != rows {
			return invalidf("field %q has length %d, batch has %d rows", schema.Fields[f].Name, nodes[ni].Length, rows)
		}
		if err := validateNode(t, nodes, bufs, &ni, &bi); err != nil {
			return invalidf("field %q: %v", schema.Fields[f].Name, err)
		}
	}
	return nil
}

func validateNode(t abi.Type, nodes []Node, bufs [][]byte, ni, bi *int) error {
	n := nodes[*ni]
	*ni++
	lay := t.Kind.Layout()
	if n.Length < 0 || n.Length > math.MaxInt32 || n.NullCount < 0 || n.NullCount > n.Length {
		return invalidf("length %d, null count %d", n.Length, n.NullCount)
	}
	validity := bufs[*bi]
	*bi++
	if n.NullCount > 0 && len(validity) < (n.Length+7)/8 {
		return invalidf("%d nulls but a validity bitmap of %d bytes for %d values", n.NullCount, len(validity), n.Length)
	}
	var end int // last offset
	if lay.Offsets {
		off := bufs[*bi]
		*bi++
		if n.Length > 0 || len(off) > 0 {
			if len(off) < (n.Length+1)*4 {
				return invalidf("offsets of %d bytes for %d values", len(off), n.Length)
			}
			if first := int32(binary.LittleEndian.Uint32(off)); first < 0 {
				return invalidf("negative first offset %d", first)
			}
			if i := descent(off[:(n.Length+1)*4]); i > 0 {
				return invalidf("offset %d (%d) is below offset %d (%d)", i, int32(getU32(off, i*4)), i-1, int32(getU32(off, i*4-4)))
			}
			end = int(int32(getU32(off, n.Length*4)))
		}
	}
	if lay.Values {
		v := bufs[*bi]
		*bi++
		switch {
		case lay.BitPacked:
			if len(v) < (n.Length+7)/8 {
				return invalidf("bool bitmap of %d bytes for %d values", len(v), n.Length)
			}
		case lay.Width > 0:
			if len(v) < n.Length*lay.Width {
				return invalidf("values of %d bytes for %d values of width %d", len(v), n.Length, lay.Width)
			}
		default:
			if len(v) < end {
				return invalidf("data of %d bytes, offsets end at %d", len(v), end)
			}
		}
	}
	if lay.Child {
		if t.Elem == nil {
			return invalidf("list without element type")
		}
		if nodes[*ni].Length < end {
			return invalidf("list child has %d values, offsets end at %d", nodes[*ni].Length, end)
		}
		return validateNode(*t.Elem, nodes, bufs, ni, bi)
	}
	return nil
}

// descent returns the index of the first int32 offset of off (little-endian,
// len(off) a multiple of 4) below the one before it, or 0 when they ascend.
// The loop has no branch but its own (in a wasm guest every branch costs
// about as much as the rest of this loop); a second finds the index.
func descent(off []byte) int {
	n := len(off) / 4
	if n < 2 {
		return 0
	}
	p := unsafe.Pointer(unsafe.SliceData(off))
	var bad int64
	for i := 1; i < n; i++ {
		bad |= int64(*(*int32)(unsafe.Add(p, i*4))) - int64(*(*int32)(unsafe.Add(p, i*4-4)))
	}
	if bad >= 0 {
		return 0
	}
	for i := 1; ; i++ {
		if int32(getU32(off, i*4)) < int32(getU32(off, i*4-4)) {
			return i
		}
	}
}
