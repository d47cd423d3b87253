package wirerows

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// encodeMem lays out an encoding op's inputs as in a guest's memory: two
// cursors (0 and 64) at 8, a 128-byte dst at 32, values at 160, offsets
// at 224, and a validity byte at 256.
func encodeMem(values []byte, offsets ...uint32) ([]byte, []uint64) {
	mem := make([]byte, 264)
	binary.LittleEndian.PutUint64(mem[8:], 0)
	binary.LittleEndian.PutUint64(mem[16:], 64)
	copy(mem[160:], values)
	for i, o := range offsets {
		binary.LittleEndian.PutUint32(mem[224+4*i:], o)
	}
	mem[256] = 0b01 // row 1 is NULL
	a := make([]uint64, abi.WireArgsWords)
	a[abi.WireEncCursors], a[abi.WireEncRows] = 8, 2
	a[abi.WireEncDst], a[abi.WireEncDstLen] = 32, 128
	a[abi.WireEncValues], a[abi.WireEncValuesLen] = 160, uint64(len(values))
	a[abi.WireEncOffsets], a[abi.WireEncOffsetsLen] = 224, uint64(4*len(offsets))
	return mem, a
}

func TestEncodeWritesFields(t *testing.T) {
	field := func(mem []byte, cur int) []byte { return mem[32+cur:] }
	t.Run("fixed with a shift and NULLs", func(t *testing.T) {
		vals := binary.LittleEndian.AppendUint32(nil, 0x7fffffff) // the maximum keeps its value
		vals = binary.LittleEndian.AppendUint32(vals, 7)
		mem, a := encodeMem(vals)
		a[abi.WireEncWidth], a[abi.WireEncParam] = 4, 10
		if err := Run(mem, abi.WireEncodeFixed, a); err != nil {
			t.Fatal(err)
		}
		if got := field(mem, 0)[:8]; string(got) != "\x00\x00\x00\x04\x7f\xff\xff\xff" {
			t.Errorf("row 0: % x", got)
		}
		a[abi.WireEncValidity], a[abi.WireEncValidityLen] = 256, 1
		binary.LittleEndian.PutUint64(mem[8:], 0)
		binary.LittleEndian.PutUint64(mem[16:], 64)
		if err := Run(mem, abi.WireEncodeFixed, a); err != nil {
			t.Fatal(err)
		}
		if got := field(mem, 64)[:4]; string(got) != "\xff\xff\xff\xff" {
			t.Errorf("NULL row 1: % x", got)
		}
		if c0, c1 := binary.LittleEndian.Uint64(mem[8:]), binary.LittleEndian.Uint64(mem[16:]); c0 != 8 || c1 != 68 {
			t.Errorf("cursors %d, %d; want 8, 68", c0, c1)
		}
	})
	t.Run("bytes with a version byte", func(t *testing.T) {
		mem, a := encodeMem([]byte("abcde"), 0, 2, 5)
		a[abi.WireEncParam] = 1 + 1
		if err := Run(mem, abi.WireEncodeBytes, a); err != nil {
			t.Fatal(err)
		}
		if got := field(mem, 0)[:7]; string(got) != "\x00\x00\x00\x03\x01ab" {
			t.Errorf("row 0: % x", got)
		}
		if got := field(mem, 64)[:8]; string(got) != "\x00\x00\x00\x04\x01cde" {
			t.Errorf("row 1: % x", got)
		}
	})
	t.Run("slots", func(t *testing.T) {
		slots := append([]byte("\x00\x00\x00\x02xy\x00\x00"), "\xff\xff\xff\xff\x00\x00\x00\x00"...)
		mem, a := encodeMem(slots)
		a[abi.WireEncWidth] = 8
		if err := Run(mem, abi.WireEncodeSlots, a); err != nil {
			t.Fatal(err)
		}
		if got := field(mem, 0)[:6]; string(got) != "\x00\x00\x00\x02xy" {
			t.Errorf("row 0: % x", got)
		}
		if c0, c1 := binary.LittleEndian.Uint64(mem[8:]), binary.LittleEndian.Uint64(mem[16:]); c0 != 6 || c1 != 68 {
			t.Errorf("cursors %d, %d; want 6, 68", c0, c1)
		}
	})
}

// TestEncodeRefusesMemoryOutOfRange: whatever a block says, an encoding
// op touches only the guest's memory and returns an error instead of
// panicking.
func TestEncodeRefusesMemoryOutOfRange(t *testing.T) {
	big := uint64(1) << 40
	for _, tc := range []struct {
		name string
		op   abi.WireRowsOp
		edit func(mem []byte, a []uint64)
		want error
	}{
		{"cursors past the end", abi.WireEncodeBool, func(_ []byte, a []uint64) { a[abi.WireEncCursors] = 260 }, ErrOutOfRange},
		{"rows beyond memory", abi.WireEncodeBool, func(_ []byte, a []uint64) { a[abi.WireEncRows] = big }, ErrOutOfRange},
		{"dst past the end", abi.WireEncodeBool, func(_ []byte, a []uint64) { a[abi.WireEncDstLen] = big }, ErrOutOfRange},
		{"cursor past dst", abi.WireEncodeBool, func(mem []byte, _ []uint64) { binary.LittleEndian.PutUint64(mem[16:], 126) }, ErrOutOfRange},
		{"negative cursor", abi.WireEncodeBool, func(mem []byte, _ []uint64) { binary.LittleEndian.PutUint64(mem[16:], ^uint64(0)) }, ErrOutOfRange},
		{"first bit beyond memory", abi.WireEncodeBool, func(_ []byte, a []uint64) { a[abi.WireEncFirst] = big }, ErrOutOfRange},
		{"validity too short", abi.WireEncodeBool, func(_ []byte, a []uint64) {
			a[abi.WireEncValidity], a[abi.WireEncValidityLen], a[abi.WireEncFirst] = 256, 1, 7
		}, ErrOutOfRange},
		{"fixed values too short", abi.WireEncodeFixed, func(_ []byte, a []uint64) { a[abi.WireEncWidth] = 8 }, ErrOutOfRange},
		{"offsets descending", abi.WireEncodeBytes, func(mem []byte, _ []uint64) { binary.LittleEndian.PutUint32(mem[228:], 9) }, ErrOutOfRange},
		{"offset past the values", abi.WireEncodeBytes, func(mem []byte, _ []uint64) { binary.LittleEndian.PutUint32(mem[232:], 99) }, ErrOutOfRange},
		{"slot length beyond its slot", abi.WireEncodeSlots, func(mem []byte, a []uint64) {
			a[abi.WireEncWidth] = 8
			copy(mem[160:], "\x00\x00\x00\x09")
		}, ErrOutOfRange},
		{"bad fixed width", abi.WireEncodeFixed, func(_ []byte, a []uint64) { a[abi.WireEncWidth] = 3 }, nil},
		{"bad slot width", abi.WireEncodeSlots, func(_ []byte, a []uint64) { a[abi.WireEncWidth] = 2 }, nil},
		{"unknown op", abi.WireEncodeSlots + 1, func([]byte, []uint64) {}, ErrBadOp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, a := encodeMem([]byte("abcdefgh"), 0, 4, 8)
			a[abi.WireEncWidth] = 4
			tc.edit(mem, a)
			err := Run(mem, tc.op, a)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
