package wirerows

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// benchMem lays out n bench_events-like rows (8 fields) in a memory as a
// guest holds them, with room for the locations and the outputs.
func benchMem(n int) (mem []byte, rowsAt, locsAt, outAt, offsAt uint64) {
	payload := []byte("c4ca4238a0b923820dcc509a6f75849bc81e728d9d4c2f636f067f89cc14862ceccbc87e4b5ce2fe28308fd9f2a7baf3")
	field := func(b []byte, f []byte) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		return append(b, f...)
	}
	mem = make([]byte, 8)
	var hdrs []byte
	for r := range n {
		start := len(mem)
		mem = field(mem, binary.BigEndian.AppendUint64(nil, uint64(r)))
		mem = field(mem, []byte("purchase")[:4+r%5])
		mem = field(mem, binary.BigEndian.AppendUint32(nil, uint32(r)))
		mem = field(mem, binary.BigEndian.AppendUint64(nil, uint64(r)*3))
		mem = field(mem, []byte{0, 2, 0, 0, 0, 0, 0, 2, 1, 149, 0, 3})
		mem = field(mem, payload)
		mem = field(mem, binary.BigEndian.AppendUint64(nil, uint64(r)*1000000))
		mem = field(mem, []byte{byte(r & 1)})
		hdrs = binary.LittleEndian.AppendUint64(hdrs, uint64(start))
		hdrs = binary.LittleEndian.AppendUint64(hdrs, uint64(len(mem)-start))
		hdrs = binary.LittleEndian.AppendUint64(hdrs, uint64(len(mem)-start))
	}
	for len(mem)%8 != 0 {
		mem = append(mem, 0)
	}
	rowsAt = uint64(len(mem))
	mem = append(mem, hdrs...)
	locsAt = uint64(len(mem))
	mem = append(mem, make([]byte, n*8*8)...)
	outAt = uint64(len(mem))
	mem = append(mem, make([]byte, n*128)...)
	offsAt = uint64(len(mem))
	mem = append(mem, make([]byte, n*4)...)
	return
}

// BenchmarkEventsRows runs the ops AppendWireRows makes for one call on
// bench_events rows (the numeric column is the connector's own).
func BenchmarkEventsRows(b *testing.B) {
	const n = 1300
	mem, rowsAt, locsAt, outAt, offsAt := benchMem(n)
	args := make([]uint64, abi.WireArgsWords)
	run := func(op abi.WireRowsOp, col int, in ...uint64) {
		args[abi.WireArgRows], args[abi.WireArgNRows] = rowsAt, n
		args[abi.WireArgLocs], args[abi.WireArgStride] = locsAt+uint64(8*col), 8
		copy(args[abi.WireArgIn:abi.WireArgOut], append(in, 0, 0, 0, 0, 0, 0))
		if err := Run(mem, op, args); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		run(abi.WireRowsLocate, 0, 8, 1<<40, 0, 0)
		run(abi.WireRowsBE64, 0, outAt, n*8)
		run(abi.WireRowsBytes, 1, outAt, n*128, 0, offsAt, n*4)
		run(abi.WireRowsBE32, 2, outAt, n*4)
		run(abi.WireRowsBE64, 3, outAt, n*8)
		run(abi.WireRowsBytes, 5, outAt, n*128, 0, offsAt, n*4)
		run(abi.WireRowsBE64Shift, 6, outAt, n*8, 1000)
		run(abi.WireRowsBool, 7, outAt, n/8+1, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

// TestRunRefusesMemoryOutOfRange checks that a block naming memory past
// the guest's is an error, not a host panic or a write outside it.
func TestRunRefusesMemoryOutOfRange(t *testing.T) {
	const n = 10
	mem, rowsAt, locsAt, outAt, offsAt := benchMem(n)
	block := func(op abi.WireRowsOp, in ...uint64) []uint64 {
		a := make([]uint64, abi.WireArgsWords)
		a[abi.WireArgRows], a[abi.WireArgNRows], a[abi.WireArgLocs], a[abi.WireArgStride] = rowsAt, n, locsAt, 8
		copy(a[abi.WireArgIn:], in)
		return a
	}
	if err := Run(mem, abi.WireRowsLocate, block(abi.WireRowsLocate, 8, 1<<40, 0, 0)); err != nil {
		t.Fatalf("locate: %v", err)
	}
	huge := uint64(len(mem))
	for name, c := range map[string]struct {
		op   abi.WireRowsOp
		args []uint64
	}{
		"rows past the end":      {abi.WireRowsBE64, func() []uint64 { a := block(0, outAt, n*8); a[abi.WireArgRows] = huge - 24; return a }()},
		"row count past the end": {abi.WireRowsBE64, func() []uint64 { a := block(0, outAt, n*8); a[abi.WireArgNRows] = 1 << 40; return a }()},
		"dst past the end":       {abi.WireRowsBE64, block(0, huge-8, n*8)},
		"dst too short":          {abi.WireRowsBE64, block(0, outAt, n*8-1)},
		"values past the end":    {abi.WireRowsBytes, block(0, huge, 100, 0, offsAt, n*4)},
		"offsets past the end":   {abi.WireRowsBytes, block(0, outAt, n*128, 0, huge-4, n*4)},
		"start past the values":  {abi.WireRowsBytes, block(0, outAt, n*128, 1<<62, offsAt, n*4)},
		"locs past the end":      {abi.WireRowsBE64, func() []uint64 { a := block(0, outAt, n*8); a[abi.WireArgLocs] = huge - 8; return a }()},
		"stride past the end":    {abi.WireRowsBE64, func() []uint64 { a := block(0, outAt, n*8); a[abi.WireArgStride] = 1 << 50; return a }()},
		// 2^61 rows: 24 bytes of header each wrap to an empty span, and a
		// stride of 0 reads one location forever unless the count is
		// checked against the memory first.
		"row count wrapping": {abi.WireRowsBytesSize, func() []uint64 {
			a := block(0)
			a[abi.WireArgRows], a[abi.WireArgNRows], a[abi.WireArgStride] = 0, 1<<61, 0
			return a
		}()},
		"locate columns past the end": {abi.WireRowsLocate, block(0, 1<<40, 1<<40, 0, 0)},
	} {
		args := c.args
		if len(args) < abi.WireArgsWords {
			args = append(args, make([]uint64, abi.WireArgsWords-len(args))...)
		}
		if err := Run(mem, c.op, args); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("%s: %v, want ErrOutOfRange", name, err)
		}
	}
	if err := Run(mem, 99, block(0)); !errors.Is(err, ErrBadOp) {
		t.Errorf("unknown op: %v", err)
	}
}
