package abi

import (
	"bytes"
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

func TestCoalesceDataSegments(t *testing.T) {
	in := []dataSegment{
		{offset: 100, init: []byte("ab")},
		{offset: 102, init: []byte("cd")},     // adjacent: joined
		{offset: 110, init: []byte("ef")},     // 6 zeros apart: joined
		{offset: 200, init: []byte("gh")},     // 88 apart: kept
		{offset: 201, init: []byte("XY")},     // overlaps: kept apart, so it still wins
		{offset: 50, init: []byte("zz")},      // out of order: kept
		{offset: 70000, init: []byte("last")}, // beyond the first page's segment
	}
	for _, withCount := range []bool{false, true} {
		wasm := moduleWithData(in, withCount)
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
			{offset: 100, init: []byte("abcd\x00\x00\x00\x00\x00\x00ef")},
			{offset: 200, init: []byte("gh")},
			{offset: 201, init: []byte("XY")},
			{offset: 50, init: []byte("zz")},
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
			if s.id == sectionDataCount {
				if n, _, _ := readULEB(out, s.payloadStart); n != uint64(len(want)) {
					t.Errorf("data count section says %d, want %d", n, len(want))
				}
			}
		}
		wantIDs := []byte{5, sectionData, 0}
		if withCount {
			wantIDs = []byte{5, sectionDataCount, sectionData, 0}
		}
		if !bytes.Equal(ids, wantIDs) {
			t.Errorf("sections %v, want %v", ids, wantIDs)
		}
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
