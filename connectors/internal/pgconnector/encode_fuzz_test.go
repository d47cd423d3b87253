//go:build linux

package pgconnector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// guarded returns a slice of n bytes (copied from b, zero-padded) that
// ends right before an inaccessible page, so that reading past it faults.
func guarded(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	const page = 4096
	size := (n+page-1)/page*page + page
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(m) })
	if err := syscall.Mprotect(m[size-page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	s := m[size-page-n : size-page : size-page]
	copy(s, b)
	return s
}

type fuzzBytes struct{ b []byte }

func (s *fuzzBytes) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

// plainReader hides pgarrow.RawColumn, forcing the encoder's generic path.
type plainReader struct{ pgarrow.Reader }

// FuzzEncodeValidatedView builds batches with adversarial buffers (short
// or long bitmaps and buffers, null counts that lie, offsets that start
// late, descend or pass the data), and for every one that batch.View
// accepts checks that the COPY encoder's column and row paths produce
// what its generic path does, reading nothing past any buffer.
func FuzzEncodeValidatedView(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x03\x20\x05\x00\x07\x01\x09\x02\x0b\x03\x01\x02\x03\x04\x05\x06"))
	f.Add(bytes.Repeat([]byte{0x17, 0x40, 0x03, 0xfe, 0x81, 0x09}, 60))
	types := []struct {
		arrow string
		dst   pgarrow.Type // zero: the arrow type's own
	}{
		{"int16", pgarrow.Type{}}, {"int32", pgarrow.Type{}}, {"int64", pgarrow.Type{}}, {"float64", pgarrow.Type{}},
		{"bool", pgarrow.Type{}}, {"utf8", pgarrow.Type{}}, {"binary", pgarrow.Type{}}, {"date32", pgarrow.Type{}},
		{"time64[us]", pgarrow.Type{}}, {"timestamp[us]", pgarrow.Type{}}, {"timestamp[us, UTC]", pgarrow.Type{}},
		{"utf8", pgarrow.Type{Kind: pgarrow.KindJSONB}},
		{"decimal128(38, 0)", pgarrow.Type{}}, {"decimal128(38, 2)", pgarrow.Type{}}, {"decimal128(38, 7)", pgarrow.Type{}},
		{"decimal128(38, 16)", pgarrow.Type{}}, {"decimal128(38, 20)", pgarrow.Type{}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &fuzzBytes{b: data}
		ncol := 1 + int(s.byte())%5
		rows := int(s.byte()) % 80
		var fields []abi.Field
		var src, dst []pgarrow.Type
		for c := range ncol {
			ty := types[int(s.byte())%len(types)]
			fields = append(fields, abi.Field{Name: fmt.Sprint("c", c), Type: ty.arrow, Nullable: true})
			pt, err := pgarrow.ParseArrow(ty.arrow)
			if err != nil {
				t.Fatal(err)
			}
			src = append(src, pt)
			if ty.dst.Kind != 0 {
				pt = ty.dst
			}
			dst = append(dst, pt)
		}
		schema, err := batch.NewSchema(fields)
		if err != nil {
			t.Fatal(err)
		}
		// delta is usually 0, sometimes -1 or +1..+3.
		delta := func() int {
			switch x := s.byte(); {
			case x < 0xe0:
				return 0
			case x < 0xf0:
				return -1
			default:
				return int(x&3) + 1
			}
		}
		var nodes []batch.Node
		var bufs [][]byte
		for c := range ncol {
			at := schema.Types[c]
			lay := at.Kind.Layout()
			length := rows
			if s.byte() == 0xff {
				length++
			}
			nulls := 0
			if x := s.byte(); x&1 == 1 {
				nulls = int(x>>1) % (length + 2)
			}
			nodes = append(nodes, batch.Node{Length: length, NullCount: nulls})
			vb := make([]byte, max((length+7)/8+delta(), 0))
			for i := range vb {
				lo := s.byte()
				vb[i] = lo | s.byte() // mostly valid bits
			}
			bufs = append(bufs, guarded(t, vb, len(vb)))
			if lay.Offsets {
				var offs []byte
				o := int32(s.byte() % 4)
				for i := 0; i <= length; i++ {
					if i > 0 {
						x := s.byte()
						if x >= 160 {
							x = (x - 160) * 3
						} else {
							x %= 20
						}
						o += int32(x)
					}
					v := o
					if s.byte() == 0xfe {
						v = int32(binary.LittleEndian.Uint32([]byte{s.byte(), s.byte(), s.byte(), s.byte()}))
					}
					offs = binary.LittleEndian.AppendUint32(offs, uint32(v))
				}
				n := max(len(offs)+4*delta(), 0)
				if length == 0 && s.byte()&1 == 0 {
					n = 0
				}
				bufs = append(bufs, guarded(t, offs, n))
				dn := max(int(o)+delta(), 0)
				db := make([]byte, dn)
				for i := range db {
					db[i] = 'a' + byte(i%26)
				}
				bufs = append(bufs, guarded(t, db, dn))
				continue
			}
			var n int
			if lay.BitPacked {
				n = (length + 7) / 8
			} else {
				n = length * lay.Width
			}
			n = max(n+delta(), 0)
			b := make([]byte, n)
			for i := range b {
				b[i] = s.byte()
				if lay.Width == 16 && i%16 >= 8 {
					b[i] = byte(int8(b[i-8]) >> 7) // mostly 64-bit decimals
					if s.byte() == 0xfd {
						b[i] ^= 1
					}
				}
			}
			bufs = append(bufs, guarded(t, b, n))
		}
		v := batch.NewView(schema)
		if err := v.Set(rows, nodes, bufs); err != nil {
			return
		}
		enc, err := pgarrow.NewEncoder(dst, src)
		if err != nil {
			t.Fatal(err)
		}
		in := &inputBatch{}
		in.setView(v)
		raw := make([]pgarrow.Reader, ncol)
		plain := make([]pgarrow.Reader, ncol)
		for c := range ncol {
			raw[c] = in.Column(c)
			plain[c] = plainReader{in.Column(c)}
		}
		from := 0
		if rows > 0 {
			from = int(s.byte()) % rows
		}
		got, gerr := enc.AppendRows([]byte("prefix"), raw, from, rows)
		want, werr := enc.AppendRows([]byte("prefix"), plain, from, rows)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("errors differ: %v vs %v", gerr, werr)
		}
		if gerr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%v rows [%d, %d): encodings differ (%d vs %d bytes)", src, from, rows, len(got), len(want))
		}
	})
}
