package abi

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

const (
	sectionData      = 11
	sectionDataCount = 12
	opI32Const       = 0x41
	opEnd            = 0x0b
)

// dataSegment is an active data segment of memory 0 at a constant offset.
type dataSegment struct {
	offset uint32
	init   []byte
}

// CoalesceDataSegments returns a copy of wasm whose active data segments,
// sorted by offset, are merged wherever the gap between two of them is at
// most maxGap bytes, the gap written as the zeros a fresh memory holds
// anyway, so an instance starts with the same memory.
//
// Go's wasm linker splits a module's data at every run of zeros, up to
// 100,000 segments; the runtime then decodes and validates each segment
// when it loads the module, and evaluates each one's offset every time it
// instantiates it. A module whose data section holds anything but disjoint
// constant-offset active segments of memory 0, or that has a data count
// section (its code may name segments by index), is returned unchanged.
func CoalesceDataSegments(wasm []byte, maxGap int) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	dataIdx := -1
	for i, s := range secs {
		switch s.id {
		case sectionData:
			dataIdx = i
		case sectionDataCount:
			// Code may name segments by index (memory.init, data.drop),
			// which merging would renumber.
			return wasm, nil
		}
	}
	if dataIdx < 0 {
		return wasm, nil
	}
	d := secs[dataIdx]
	segs, ok, err := parseDataSegments(wasm[d.payloadStart:d.end])
	if err != nil {
		return nil, fmt.Errorf("data section: %w", err)
	}
	if !ok {
		return wasm, nil
	}
	merged, ok := mergeDataSegments(segs, maxGap)
	if !ok {
		return wasm, nil
	}

	out := make([]byte, 0, len(wasm))
	out = append(out, wasmHeader...)
	for i, s := range secs {
		if i == dataIdx {
			out = appendSection(out, sectionData, encodeDataSegments(merged))
			continue
		}
		out = append(out, wasm[s.start:s.end]...)
	}
	return out, nil
}

// parseDataSegments decodes a data section's payload. ok is false when a
// segment is passive, names another memory or has a non-constant offset.
func parseDataSegments(p []byte) (segs []dataSegment, ok bool, err error) {
	n, pos, err := readULEB(p, 0)
	if err != nil {
		return nil, false, err
	}
	segs = make([]dataSegment, 0, min(n, uint64(len(p)))) // a segment takes at least a byte
	for range n {
		flags, q, err := readULEB(p, pos)
		if err != nil {
			return nil, false, err
		}
		if flags != 0 || q >= len(p) || p[q] != opI32Const {
			return nil, false, nil
		}
		off, q, err := readSLEB32(p, q+1)
		if err != nil {
			return nil, false, err
		}
		if q >= len(p) || p[q] != opEnd {
			return nil, false, nil
		}
		size, q, err := readULEB(p, q+1)
		if err != nil {
			return nil, false, err
		}
		if size > uint64(len(p)-q) {
			return nil, false, errors.New("segment overruns the section")
		}
		// A full slice expression: the first merge must copy, never append
		// into the module's bytes.
		segs = append(segs, dataSegment{offset: uint32(off), init: p[q : q+int(size) : q+int(size)]})
		pos = q + int(size)
	}
	if pos != len(p) {
		return nil, false, errors.New("trailing bytes after the last segment")
	}
	return segs, true, nil
}

// mergeDataSegments sorts segs by offset and joins each one to the one
// before it when it starts at most maxGap bytes after that one ends. The
// result writes the same memory only because the segments are disjoint: then
// the order they are applied in does not matter, and no gap between two
// neighbours in offset order holds another segment's bytes. ok is false,
// and nothing is merged, when two segments overlap (Go's linker emits
// disjoint segments, but not always in offset order).
func mergeDataSegments(segs []dataSegment, maxGap int) (out []dataSegment, ok bool) {
	sorted := slices.Clone(segs)
	slices.SortStableFunc(sorted, func(a, b dataSegment) int { return cmp.Compare(a.offset, b.offset) })
	for i := 1; i < len(sorted); i++ {
		if uint64(sorted[i].offset) < uint64(sorted[i-1].offset)+uint64(len(sorted[i-1].init)) {
			return nil, false
		}
	}
	for _, s := range sorted {
		if len(out) > 0 {
			last := &out[len(out)-1]
			if gap := uint64(s.offset) - (uint64(last.offset) + uint64(len(last.init))); gap <= uint64(maxGap) {
				last.init = append(append(last.init, make([]byte, gap)...), s.init...)
				continue
			}
		}
		out = append(out, s)
	}
	return out, true
}

// encodeDataSegments encodes segs as a data section payload.
func encodeDataSegments(segs []dataSegment) []byte {
	body := appendULEB(nil, uint64(len(segs)))
	for _, s := range segs {
		body = append(body, 0, opI32Const)
		body = appendSLEB32(body, int32(s.offset))
		body = append(body, opEnd)
		body = appendULEB(body, uint64(len(s.init)))
		body = append(body, s.init...)
	}
	return body
}

// appendSection appends a section with id and payload.
func appendSection(dst []byte, id byte, payload []byte) []byte {
	dst = append(dst, id)
	dst = appendULEB(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// readSLEB32 reads a signed LEB128 i32 at pos.
func readSLEB32(b []byte, pos int) (int32, int, error) {
	v, bits, pos, err := readLEB(b, pos)
	if err != nil {
		return 0, 0, err
	}
	if v&(1<<(bits-1)) != 0 {
		v |= ^uint64(0) << bits // sign-extend
	}
	return int32(v), pos, nil
}

func appendSLEB32(dst []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}
