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

// BenchmarkEncodeEvents runs the encoding ops for the columns of a
// bench_events batch (bigint, short text, int, float8, numeric slots,
// 100-byte text, timestamptz, bool; 16,384 rows without NULLs), as the
// PostgreSQL destination calls them, for comparison with the guest's own
// loops (connectors/internal/pgarrow BenchmarkEncodeRows, natively and
// under wazero).
func BenchmarkEncodeEvents(b *testing.B) {
	const rows, slot = 16384, 32
	var mem []byte
	put := func(n int) uint64 {
		at := uint64(len(mem)) + 8
		mem = append(mem, make([]byte, n+8)...)
		return at
	}
	type col struct {
		op                    abi.WireRowsOp
		values, offsets       uint64
		valuesLen, offsetsLen int
		width, param          uint64
	}
	fixed := func(w int, shift uint64) col {
		return col{op: abi.WireEncodeFixed, values: put(rows * w), valuesLen: rows * w, width: uint64(w), param: shift}
	}
	text := func(n int) col {
		c := col{op: abi.WireEncodeBytes, values: put(rows * n), valuesLen: rows * n, offsets: put((rows + 1) * 4), offsetsLen: (rows + 1) * 4}
		for j := range rows + 1 {
			binary.LittleEndian.PutUint32(mem[c.offsets+uint64(4*j):], uint32(j*n))
		}
		return c
	}
	cols := []col{fixed(8, 0), text(6), fixed(4, 0), fixed(8, 0), {op: abi.WireEncodeSlots, width: slot},
		text(100), fixed(8, 946684800000000), {op: abi.WireEncodeBool}}
	cols[4].values, cols[4].valuesLen = put(rows*slot), rows*slot
	for j := range rows {
		copy(mem[cols[4].values+uint64(j*slot):], "\x00\x00\x00\x0c\x00\x02\x00\x00\x00\x00\x00\x02\x00\x0c\x0d\x48")
	}
	cols[7].values, cols[7].valuesLen = put(rows/8), rows/8
	rowSize := 2 + 12 + 10 + 8 + 12 + 16 + 104 + 12 + 5
	cursors, dst := put(rows*8), put(rows*rowSize)
	starts := make([]byte, rows*8)
	for j := range rows {
		binary.LittleEndian.PutUint64(starts[8*j:], uint64(j*rowSize+2))
	}
	a := make([]uint64, abi.WireArgsWords)
	for b.Loop() {
		copy(mem[cursors:], starts)
		for _, c := range cols {
			clear(a)
			a[abi.WireEncCursors], a[abi.WireEncRows] = cursors, rows
			a[abi.WireEncDst], a[abi.WireEncDstLen] = dst, uint64(rows*rowSize)
			a[abi.WireEncValues], a[abi.WireEncValuesLen] = c.values, uint64(c.valuesLen)
			a[abi.WireEncOffsets], a[abi.WireEncOffsetsLen] = c.offsets, uint64(c.offsetsLen)
			a[abi.WireEncWidth], a[abi.WireEncParam] = c.width, c.param
			if err := Run(mem, c.op, a); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
