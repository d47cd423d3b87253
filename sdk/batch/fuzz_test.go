package batch

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// fuzzSchema covers every buffer shape: fixed width, bit-packed, variable
// length and nested.
func fuzzSchema(t testing.TB) *Schema {
	s, err := NewSchema([]abi.Field{
		{Name: "i", Type: "int64", Nullable: true},
		{Name: "b", Type: "bool", Nullable: true},
		{Name: "s", Type: "utf8", Nullable: true},
		{Name: "d", Type: "decimal128(12, 2)", Nullable: true},
		{Name: "l", Type: "list<int32>", Nullable: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validFrame builds a well-formed frame to seed the corpus.
func validFrame(t testing.TB, s *Schema) []byte {
	b, err := NewBuilder(s, 8, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 3 {
		b.Int64(0).Append(int64(r))
		b.Column(1).AppendNull()
		b.Column(2).AppendNull()
		b.Column(3).AppendNull()
		b.Column(4).AppendNull()
	}
	var frame []byte
	if err := b.Layout(func(rows int, nodes []Node, bufs [][]byte) {
		frame = EncodeFrame(nil, rows, nodes, bufs, []byte(`{"id":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	return frame
}

// FuzzParseView feeds arbitrary frames, as a hostile or buggy host could
// hand them to a guest, to the frame parser. Parsing must fail cleanly or
// yield a view whose every value can be read without a panic.
func FuzzParseView(f *testing.F) {
	s := fuzzSchema(f)
	seed := validFrame(f, s)
	if v, err := ParseView(s, seed); err != nil || v.Rows() != 3 {
		f.Fatalf("seed frame does not parse: %v", err)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x31, 0x46, 0x42, 0x52, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, frame []byte) {
		v, err := ParseView(s, frame)
		if err != nil {
			return
		}
		for c := range v.NumColumns() {
			readAll(t, v.Column(c))
		}
	})
}

func readAll(t *testing.T, c *ColumnView) {
	for i := range c.Len() {
		if c.IsNull(i) {
			continue
		}
		switch c.Type().Kind {
		case abi.KindUtf8, abi.KindBinary:
			_ = c.Bytes(i)
		case abi.KindBool:
			_ = c.Bool(i)
		case abi.KindList:
			start, end := c.ListRange(i)
			if start < 0 || end < start || end > c.Elem().Len() {
				t.Fatalf("list row %d: range [%d, %d) outside child of %d", i, start, end, c.Elem().Len())
			}
		default:
			_ = c.Raw(i)
		}
	}
	if c.Elem() != nil {
		readAll(t, c.Elem())
	}
}

// FuzzDescriptor plays a guest handing emit_batch an arbitrary descriptor
// over an arbitrary memory, as the host sees it: decode, bounds-check each
// range against memory, validate. Whatever gets through must be readable
// without a panic.
func FuzzDescriptor(f *testing.F) {
	s := fuzzSchema(f)
	mem := make([]byte, 4096)
	// Seed: the valid batch laid out at known addresses in mem.
	b, err := NewBuilder(s, 8, 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	b.Int64(0).Append(7)
	for c := 1; c < 5; c++ {
		b.Column(c).AppendNull()
	}
	var desc []uint32
	if err := b.Layout(func(rows int, nodes []Node, bufs [][]byte) {
		next := uint32(64)
		desc = AppendDescriptor(nil, rows, nodes, bufs, func(p []byte) uint32 {
			at := next
			copy(mem[at:], p)
			next += uint32(len(p)+7) &^ 7
			return at
		})
	}); err != nil {
		f.Fatal(err)
	}
	seed := make([]byte, 4*len(desc))
	for i, w := range desc {
		seed[4*i], seed[4*i+1], seed[4*i+2], seed[4*i+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	}
	rows, nodes, refs, err := DecodeDescriptor(seed, s, nil, nil)
	if err != nil {
		f.Fatalf("seed descriptor: %v", err)
	}
	bufs := make([][]byte, len(refs))
	for i, r := range refs {
		bufs[i] = mem[r.Ptr : r.Ptr+r.Len]
	}
	if err := NewView(s).Set(rows, nodes, bufs); err != nil {
		f.Fatalf("seed batch does not validate: %v", err)
	}
	f.Add(seed, mem)
	f.Fuzz(func(t *testing.T, desc, memory []byte) {
		rows, nodes, refs, err := DecodeDescriptor(desc, s, nil, nil)
		if err != nil {
			return
		}
		bufs := make([][]byte, len(refs))
		for i, r := range refs {
			end := uint64(r.Ptr) + uint64(r.Len)
			if end > uint64(len(memory)) {
				return // the host rejects out-of-range buffers before validating
			}
			bufs[i] = memory[r.Ptr:end]
		}
		v := NewView(s)
		if err := v.Set(rows, nodes, bufs); err != nil {
			return
		}
		for c := range v.NumColumns() {
			readAll(t, v.Column(c))
		}
	})
}
