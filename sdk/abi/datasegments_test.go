package abi

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// moduleWithData builds a module of one memory and the given active data
// segments, plus a trailing custom section.
func moduleWithData(segs []dataSegment, withCount bool) []byte {
	out := append([]byte(nil), wasmHeader...)
	out = appendSection(out, 5, []byte{1, 0, 1}) // one memory, min 1 page
	if withCount {
		out = appendSection(out, sectionDataCount, appendULEB(nil, uint64(len(segs))))
	}
	out = appendSection(out, sectionData, encodeDataSegments(segs))
	return appendSection(out, 0, append(appendULEB(nil, 4), "note"...))
}

func decodedSegments(t *testing.T, wasm []byte) []dataSegment {
	t.Helper()
	secs, err := sections(wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.id == sectionData {
			segs, ok, err := parseDataSegments(wasm[s.payloadStart:s.end])
			if err != nil || !ok {
				t.Fatalf("parse data section: ok %v, %v", ok, err)
			}
			return segs
		}
	}
	t.Fatal("no data section")
	return nil
}

// memoryImage applies segs in order to a zeroed memory, as instantiation does.
func memoryImage(segs []dataSegment) []byte {
	var mem []byte
	for _, s := range segs {
		if end := int(s.offset) + len(s.init); end > len(mem) {
			mem = append(mem, make([]byte, end-len(mem))...)
		}
		copy(mem[s.offset:], s.init)
	}
	return mem
}

func TestCoalesceDataSegments(t *testing.T) {
	in := []dataSegment{
		{offset: 100, init: []byte("ab")},
		{offset: 102, init: []byte("cd")},     // adjacent: joined
		{offset: 110, init: []byte("ef")},     // 6 zeros apart: joined
		{offset: 200, init: []byte("gh")},     // 88 apart: kept
		{offset: 50, init: []byte("zz")},      // out of order (as Go's linker emits some): sorted first
		{offset: 70000, init: []byte("last")}, // far beyond: kept
	}
	wasm := moduleWithData(in, false)
	orig := bytes.Clone(wasm)
	out, err := CoalesceDataSegments(wasm, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wasm, orig) {
		t.Fatal("the input module was modified")
	}
	got := decodedSegments(t, out)
	want := []dataSegment{
		{offset: 50, init: []byte("zz")},
		{offset: 100, init: []byte("abcd\x00\x00\x00\x00\x00\x00ef")},
		{offset: 200, init: []byte("gh")},
		{offset: 70000, init: []byte("last")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d segments, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].offset != want[i].offset || !bytes.Equal(got[i].init, want[i].init) {
			t.Errorf("segment %d: got %d %q, want %d %q", i, got[i].offset, got[i].init, want[i].offset, want[i].init)
		}
	}
	secs, _ := sections(out)
	var ids []byte
	for _, s := range secs {
		ids = append(ids, s.id)
	}
	if wantIDs := []byte{5, sectionData, 0}; !bytes.Equal(ids, wantIDs) {
		t.Errorf("sections %v, want %v", ids, wantIDs)
	}
	// With a data count section, code may name segments by index.
	counted := moduleWithData(in, true)
	if out, err := CoalesceDataSegments(counted, 8); err != nil || !bytes.Equal(out, counted) {
		t.Errorf("module with a data count section: err %v, changed %v", err, !bytes.Equal(out, counted))
	}
}

// TestCoalesceDataSegmentsKeepsMemory checks on random disjoint segments,
// shuffled, that the merged module starts with the same memory. A merge
// that wrote a gap's zeros over an earlier segment placed further on (the
// order Go's linker uses for some sections) fails it.
func TestCoalesceDataSegmentsKeepsMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var segs []dataSegment
		off := uint32(rng.IntN(64))
		for range 1 + rng.IntN(40) {
			init := make([]byte, 1+rng.IntN(12))
			for i := range init {
				init[i] = byte(1 + rng.IntN(255))
			}
			segs = append(segs, dataSegment{offset: off, init: init})
			off += uint32(len(init) + rng.IntN(40))
		}
		rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
		out, err := CoalesceDataSegments(moduleWithData(segs, false), rng.IntN(24))
		if err != nil {
			t.Fatal(err)
		}
		got := decodedSegments(t, out)
		if !bytes.Equal(memoryImage(got), memoryImage(segs)) {
			t.Fatalf("round %d: memory differs after merging %v into %v", round, segs, got)
		}
		if len(got) > len(segs) {
			t.Fatalf("round %d: %d segments became %d", round, len(segs), len(got))
		}
	}
}

func TestCoalesceDataSegmentsLeavesOverlapsAlone(t *testing.T) {
	in := moduleWithData([]dataSegment{
		{offset: 100, init: []byte("abcd")},
		{offset: 102, init: []byte("XY")}, // overwrites "cd": order matters, so nothing is merged
		{offset: 110, init: []byte("ef")},
	}, false)
	out, err := CoalesceDataSegments(in, 8)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("overlapping segments: err %v, changed %v", err, !bytes.Equal(out, in))
	}
}

func TestCoalesceDataSegmentsLeavesOtherModulesAlone(t *testing.T) {
	passive := append([]byte(nil), wasmHeader...)
	passive = appendSection(passive, 5, []byte{1, 0, 1})
	passive = appendSection(passive, sectionData, []byte{2, 1, 1, 'a', 1, 1, 'b'}) // two passive segments
	out, err := CoalesceDataSegments(passive, 8)
	if err != nil || !bytes.Equal(out, passive) {
		t.Fatalf("passive segments: err %v, changed %v", err, !bytes.Equal(out, passive))
	}
	noData := append(append([]byte(nil), wasmHeader...), 5, 3, 1, 0, 1)
	if out, err := CoalesceDataSegments(noData, 8); err != nil || !bytes.Equal(out, noData) {
		t.Fatalf("no data section: err %v", err)
	}
	truncated := append(append([]byte(nil), wasmHeader...), sectionData, 3, 1, 0, opI32Const)
	if _, err := CoalesceDataSegments(truncated, 8); err == nil {
		t.Fatal("a truncated data section was accepted")
	}
	huge := append(append([]byte(nil), wasmHeader...), sectionData, 5, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 segments, none there
	if _, err := CoalesceDataSegments(huge, 8); err == nil {
		t.Fatal("a data section claiming 4 billion segments was accepted")
	}
}

func TestSLEB32RoundTrip(t *testing.T) {
	for _, v := range []int32{0, 1, 63, 64, -1, -64, -65, 1 << 20, -1 << 31, 1<<31 - 1} {
		b := appendSLEB32(nil, v)
		got, n, err := readSLEB32(b, 0)
		if err != nil || got != v || n != len(b) {
			t.Errorf("%d: got %d (%d of %d bytes), %v", v, got, n, len(b), err)
		}
	}
}
