package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// wireFuzzFields and wireFuzzCols cover every wire kind but WireCustom.
var (
	wireFuzzFields = []abi.Field{
		{Name: "i", Type: "int64", Nullable: true}, {Name: "s", Type: "utf8", Nullable: true},
		{Name: "j", Type: "int32", Nullable: true}, {Name: "b", Type: "bool", Nullable: true},
		{Name: "h", Type: "int16", Nullable: true}, {Name: "t", Type: "timestamp[us]", Nullable: true},
		{Name: "d", Type: "decimal128(12, 2)", Nullable: true}, {Name: "v", Type: "utf8", Nullable: true},
	}
	errFuzzFixed = errors.New("fixed: not 2 bytes")
	wireFuzzCols = []WireColumn{
		{Kind: WireBE64}, {Kind: WireBytes}, {Kind: WireBE32Shift, Shift: 7}, {Kind: WireBool}, {Kind: WireBE16},
		{Kind: WireBE64Shift, Shift: -1 << 62}, {Kind: WireFixed, Fixed: func(dst []byte, f WireFields) error {
			for r := 0; r < f.Len(); r++ {
				if v := f.Field(r); v != nil {
					if len(v) != 2 {
						return errFuzzFixed
					}
					dst[r*16] = v[0] ^ v[1]
				}
			}
			return nil
		}}, {Kind: WireVersionedBytes, Version: 7},
	}
)

// wireFuzzRef appends rows (already framed correctly) through the typed
// appenders, or returns the column and sentinel AppendWireRows must fail with.
func wireFuzzRef(b *Builder, rows [][][]byte) (int, error) {
	for ci, wc := range wireFuzzCols {
		for _, row := range rows {
			v := row[ci]
			if v == nil {
				continue
			}
			want := map[WireKind]int{WireBE64: 8, WireBE32Shift: 4, WireBool: 1, WireBE16: 2, WireBE64Shift: 8}[wc.Kind]
			switch {
			case want > 0 && len(v) != want:
				return ci, ErrValueLength
			case wc.Kind == WireBE64Shift:
				x := int64(binary.BigEndian.Uint64(v))
				if x != -1<<63 && x != 1<<63-1 && (x < -1<<63-wc.Shift || x+wc.Shift == -1<<63) {
					return ci, ErrOutOfRange
				}
			case wc.Kind == WireFixed && len(v) != 2:
				return ci, errFuzzFixed
			case wc.Kind == WireVersionedBytes && (len(v) == 0 || v[0] != 7):
				return ci, ErrWireVersion
			}
		}
	}
	for _, row := range rows {
		for ci, v := range row[:len(wireFuzzCols)] {
			if v == nil {
				b.Column(ci).AppendNull()
				continue
			}
			switch ci {
			case 0:
				b.Int64(0).Append(int64(binary.BigEndian.Uint64(v)))
			case 1:
				b.Utf8(1).AppendBytes(v)
			case 2:
				x := int32(binary.BigEndian.Uint32(v))
				if x != -1<<31 && x != 1<<31-1 {
					x += 7
				}
				b.Int32(2).Append(x)
			case 3:
				b.Bool(3).Append(v[0] != 0)
			case 4:
				b.Int16(4).Append(int16(binary.BigEndian.Uint16(v)))
			case 5:
				x := int64(binary.BigEndian.Uint64(v))
				if x != -1<<63 && x != 1<<63-1 {
					x += -1 << 62
				}
				b.Int64(5).Append(x)
			case 6:
				b.Decimal128(6).Append(uint64(v[0]^v[1]), 0)
			case 7:
				b.Utf8(7).AppendBytes(v[1:])
			}
		}
	}
	return -1, nil
}

// FuzzAppendWireRows feeds arbitrary bytes as wire rows (split at 0xff 0xfe)
// to AppendWireRows: it must never panic, must reject exactly the rows a
// plain decoder rejects, with the same column and error, and must otherwise
// build the same buffers as the typed appenders.
func FuzzAppendWireRows(f *testing.F) {
	f.Add(wireRow(be64(1), []byte("ab"), be32(3), []byte{1}, be16(5), be64(6), []byte{1, 2}, []byte{7, 'x'}))
	f.Add(append(wireRow(nil, nil, nil, nil, nil, nil, nil, nil), 0xff, 0xfe, 0, 0, 0, 8))
	f.Add(wireRow(be64(1), nil, be16(3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewSchema(wireFuzzFields)
		if err != nil {
			t.Fatal(err)
		}
		rows := bytes.Split(data, []byte{0xff, 0xfe})
		got, _ := NewBuilder(s, len(rows), 0)
		want, _ := NewBuilder(s, len(rows), 0)
		// A plain framing check, field by field.
		var fields [][][]byte
		frameErr := -1
		for _, row := range rows {
			var fs [][]byte
			for ci := range wireFuzzCols {
				if len(row) < 4 {
					frameErr = ci
					break
				}
				l := int32(binary.BigEndian.Uint32(row))
				row = row[4:]
				if l < -1 || int(l) > len(row) {
					frameErr = ci
					break
				}
				if l >= 0 {
					fs, row = append(fs, row[:l]), row[l:]
				} else {
					fs = append(fs, nil)
				}
			}
			if frameErr >= 0 {
				break
			}
			fields = append(fields, fs)
		}
		n, err := got.AppendWireRows(rows, wireFuzzCols)
		var ce *ColumnError
		if frameErr >= 0 {
			if !errors.As(err, &ce) || ce.Column != frameErr || !errors.Is(err, ErrWireRow) {
				t.Fatalf("framing error in column %d: got %d, %v", frameErr, n, err)
			}
			return
		}
		col, wantErr := wireFuzzRef(want, fields)
		if wantErr != nil {
			if !errors.As(err, &ce) || ce.Column != col || !errors.Is(err, wantErr) {
				t.Fatalf("column %d %v: got %d, %v", col, wantErr, n, err)
			}
			return
		}
		if err != nil || n != len(rows) {
			t.Fatalf("got %d, %v; want %d rows", n, err, len(rows))
		}
		var wb [][]byte
		_ = want.Layout(func(_ int, _ []Node, bufs [][]byte) {
			for _, b := range bufs {
				wb = append(wb, bytes.Clone(b))
			}
		})
		_ = got.Layout(func(_ int, _ []Node, bufs [][]byte) {
			for i, b := range bufs {
				if !bytes.Equal(b, wb[i]) {
					t.Fatalf("buffer %d:\n got %x\nwant %x", i, b, wb[i])
				}
			}
		})
	})
}
