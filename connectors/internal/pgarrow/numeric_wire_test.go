package pgarrow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// decimalColumn converts fields (nil is NULL) through NumericsToDecimal128
// in one AppendWireRows call and returns the values (nil for NULL).
func decimalColumn(t testing.TB, fields [][]byte, scale int) ([]*[2]uint64, error) {
	t.Helper()
	s, err := batch.NewSchema([]abi.Field{{Name: "d", Type: "decimal128(38, 2)", Nullable: true}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := batch.NewBuilder(s, len(fields), 0)
	if err != nil {
		t.Fatal(err)
	}
	cols := []batch.WireColumn{{Kind: batch.WireFixed, Fixed: NumericsToDecimal128(scale)}}
	if err := b.CheckWireColumns(cols); err != nil {
		t.Fatal(err)
	}
	rows := make([][]byte, len(fields))
	for i, f := range fields {
		if f == nil {
			rows[i] = binary.BigEndian.AppendUint32(nil, 0xffffffff)
			continue
		}
		rows[i] = append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)
	}
	n, err := b.AppendWireRows(rows, cols)
	if err != nil {
		return nil, err
	}
	if n != len(rows) {
		t.Fatalf("appended %d of %d rows", n, len(rows))
	}
	out := make([]*[2]uint64, len(fields))
	_ = b.Layout(func(_ int, _ []batch.Node, bufs [][]byte) {
		for i := range fields {
			if bufs[0] != nil && bufs[0][i/8]&(1<<(i%8)) == 0 {
				continue
			}
			v := bufs[1][i*16:]
			out[i] = &[2]uint64{binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])}
		}
	})
	return out, nil
}

// checkNumericColumn checks NumericsToDecimal128 against NumericToDecimal128
// on src alone (between NULLs) at scale.
func checkNumericColumn(t testing.TB, src []byte, scale int) {
	t.Helper()
	lo, hi, wantErr := NumericToDecimal128(src, scale)
	got, err := decimalColumn(t, [][]byte{src, nil, src}, scale)
	if wantErr != nil || err != nil {
		var ce *batch.ColumnError
		if wantErr == nil || err == nil || !errors.As(err, &ce) || ce.Err.Error() != wantErr.Error() {
			t.Fatalf("%x at scale %d: column error %v, value error %v", src, scale, err, wantErr)
		}
		return
	}
	want := [2]uint64{lo, hi}
	if got[1] != nil || got[0] == nil || *got[0] != want || got[2] == nil || *got[2] != want {
		t.Fatalf("%x at scale %d: got %v %v %v, want %x", src, scale, got[0], got[1], got[2], want)
	}
}

// randomNumeric returns a binary numeric with random digits, weight and
// sign, sometimes malformed.
func randomNumeric(rng *rand.Rand) []byte {
	nd := rng.IntN(7)
	sign := []uint16{numPos, numNeg, numPos, numNeg, numNaN, numPInf, numNInf, uint16(rng.Uint32())}[rng.IntN(8)]
	if rng.IntN(4) > 0 {
		sign &= numNeg
	}
	src := appendNumHeader(nil, nd, rng.IntN(13)-6, sign, rng.IntN(20))
	for range nd {
		d := uint16(rng.IntN(10000))
		switch rng.IntN(10) {
		case 0:
			d = 9999
		case 1:
			d = 0
		case 2:
			d = uint16(rng.Uint32()) // out of range: taken as is by both
		}
		src = appendBE16(src, d)
	}
	switch rng.IntN(40) {
	case 0:
		src = src[:rng.IntN(len(src)+1)]
	case 1:
		src = append(src, 0)
	}
	return src
}

// TestNumericsToDecimal128MatchesPerValue checks the batch conversion
// against the per-value one on edge cases and random values, one at a
// time and as one column.
func TestNumericsToDecimal128MatchesPerValue(t *testing.T) {
	texts := []string{"0", "-0.00", "1", "-1", "1234.56", "-9999999999.99", "9999999999.99", "0.005", "-0.005", "1.005",
		"0.01", "0.0001", "99999999999999.99", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"922337203685477.5807", "922337203685477.5808", "1e30", "-1e37", "1e40", "0.0000000001", "123456789012.3456",
		"NaN", "Infinity", "-Infinity"}
	rng := rand.New(rand.NewPCG(1, 2))
	var vals [][]byte
	for _, s := range texts {
		v, err := AppendNumericBinary(nil, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	for range 5000 {
		vals = append(vals, randomNumeric(rng))
	}
	for scale := -4; scale <= 24; scale++ {
		var col [][]byte
		var want []*[2]uint64
		for _, v := range vals {
			checkNumericColumn(t, v, scale)
			if lo, hi, err := NumericToDecimal128(v, scale); err == nil {
				col = append(col, v, nil)
				want = append(want, &[2]uint64{lo, hi}, nil)
			}
		}
		got, err := decimalColumn(t, col, scale)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if (got[i] == nil) != (want[i] == nil) || got[i] != nil && *got[i] != *want[i] {
				t.Fatalf("scale %d row %d (%x): got %v, want %v", scale, i, col[i], got[i], want[i])
			}
		}
	}
}

// TestDropMagic checks the rounding division of numericsToDecimal128 on
// every value it can be given.
func TestDropMagic(t *testing.T) {
	for k := range 4 {
		for x := range uint64(1 << 16) {
			if got, want := (x+dropHalf[k])*dropMagic[k]>>dropShift, (x+dropHalf[k])/pow10u64[k]; got != want {
				t.Fatalf("k %d, x %d: %d, want %d", k, x, got, want)
			}
		}
	}
}

// FuzzNumericsToDecimal128 checks the batch conversion against the
// per-value one on arbitrary bytes.
func FuzzNumericsToDecimal128(f *testing.F) {
	for _, s := range []string{"0", "1234.56", "-99999999999999.99", "1e30", "NaN"} {
		v, _ := AppendNumericBinary(nil, []byte(s))
		f.Add(v, int8(2))
	}
	f.Fuzz(func(t *testing.T, src []byte, scale int8) {
		if src == nil {
			src = []byte{}
		}
		checkNumericColumn(t, src, int(scale))
	})
}

// BenchmarkNumericsToDecimal128 converts a column of numeric(12,2) values
// a batch at a time, and for comparison value by value, and not at all
// (the cost of AppendWireRows itself).
func BenchmarkNumericsToDecimal128(b *testing.B) {
	const n = 4096
	s, _ := batch.NewSchema([]abi.Field{{Name: "d", Type: "decimal128(12, 2)"}})
	bl, _ := batch.NewBuilder(s, n, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]byte, n)
	for i := range rows {
		v, _ := AppendNumericBinary(nil, fmt.Appendf(nil, "%d.%02d", rng.IntN(10000000)-5000000, rng.IntN(100)))
		rows[i] = append(binary.BigEndian.AppendUint32(nil, uint32(len(v))), v...)
	}
	d := bl.Column(0).Decimal128()
	for _, c := range []struct {
		name string
		col  batch.WireColumn
	}{
		{"column", batch.WireColumn{Kind: batch.WireFixed, Fixed: NumericsToDecimal128(2)}},
		{"framing", batch.WireColumn{Kind: batch.WireFixed, Fixed: func([]byte, batch.WireFields) error { return nil }}},
		{"per-value", batch.WireColumn{Decode: func(src []byte) error {
			lo, hi, err := NumericToDecimal128(src, 2)
			d.Append(lo, int64(hi))
			return err
		}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bl.AppendWireRows(rows, []batch.WireColumn{c.col}); err != nil {
					b.Fatal(err)
				}
				bl.Reset()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
		})
	}
}
