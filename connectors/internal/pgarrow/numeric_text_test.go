package pgarrow

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// referenceAppendNumericBinary is the straightforward encoder
// AppendNumericBinary replaced (it builds digit strings and a slice of
// base-10000 digits): the reference the allocation-free one must match.
func referenceAppendNumericBinary(dst []byte, text []byte) ([]byte, error) {
	s := string(text)
	switch s {
	case "NaN", "nan", "NAN":
		return appendNumHeader(dst, 0, 0, numNaN, 0), nil
	case "Infinity", "infinity", "+Infinity", "inf", "Inf":
		return appendNumHeader(dst, 0, 0, numPInf, 0), nil
	case "-Infinity", "-infinity", "-inf", "-Inf":
		return appendNumHeader(dst, 0, 0, numNInf, 0), nil
	}
	sign := uint16(numPos)
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		if s[i] == '-' {
			sign = numNeg
		}
		i++
	}
	var intPart, frac []byte
	seenDot, any := false, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			any = true
			if seenDot {
				frac = append(frac, c)
			} else {
				intPart = append(intPart, c)
			}
		case c == '.' && !seenDot:
			seenDot = true
		case c == 'e' || c == 'E':
			exp, err := strconv.Atoi(s[i+1:])
			if err != nil || exp > 1000 || exp < -1000 {
				return dst, fmt.Errorf("invalid numeric %q", s)
			}
			for ; exp > 0; exp-- {
				if len(frac) > 0 {
					intPart, frac = append(intPart, frac[0]), frac[1:]
				} else {
					intPart = append(intPart, '0')
				}
			}
			for ; exp < 0; exp++ {
				if len(intPart) > 0 {
					frac = append([]byte{intPart[len(intPart)-1]}, frac...)
					intPart = intPart[:len(intPart)-1]
				} else {
					frac = append([]byte{'0'}, frac...)
				}
			}
			i = len(s)
		default:
			return dst, fmt.Errorf("invalid numeric %q", s)
		}
	}
	if !any {
		return dst, fmt.Errorf("invalid numeric %q", s)
	}
	dscale := len(frac)
	for len(intPart)%4 != 0 {
		intPart = append([]byte{'0'}, intPart...)
	}
	for len(frac)%4 != 0 {
		frac = append(frac, '0')
	}
	all := append(intPart, frac...)
	groups := make([]uint16, 0, len(all)/4)
	for j := 0; j < len(all); j += 4 {
		groups = append(groups, uint16((all[j]-'0'))*1000+uint16(all[j+1]-'0')*100+uint16(all[j+2]-'0')*10+uint16(all[j+3]-'0'))
	}
	weight := len(intPart)/4 - 1
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	if len(groups) == 0 {
		weight, sign = 0, numPos
	}
	dst = appendNumHeader(dst, len(groups), weight, sign, dscale)
	for _, g := range groups {
		dst = appendBE16(dst, g)
	}
	return dst, nil
}

// numericTexts are numeric texts of every shape: signs, leading and
// trailing zeros, points at both ends, exponents moving the point past
// either end, the specials, and invalid ones.
var numericTexts = []string{
	"0", "-0", "+0", "0.0", "-0.000", "00000", "1", "-1", "+7", "12", "123", "1234", "12345", "123456789",
	"0.1", ".5", "5.", "-.5", "1.50", "1.05", "0.0001", "0.00001", "-0.00012345", "12345.6789", "9999.9999",
	"10000", "100000000", "1000000000000000000000000000000000000000", "-99999999999999999999.99",
	"3.14159265358979323846264338327950288419716939937510", "0.000000000000000000000000000001",
	"1e0", "1e1", "1E4", "1.5e1", "1.5e-1", "1e-3", "-2.5e+3", "12.34e-5", "0e10", "1e1000", "1e-1000",
	"123.456e2", "123.456e3", "123.456e4", ".001e2", "1000e-2",
	"NaN", "nan", "Infinity", "-Infinity", "inf", "-inf",
	"", "-", "+", ".", "-.", "e5", "1e", "1e1001", "1e-1001", "1.2.3", "1..2", "1 ", " 1", "1-", "--1", "0x10", "1_000", "1e5.5", "1,5", "١",
}

func TestAppendNumericBinaryMatchesReference(t *testing.T) {
	for _, s := range numericTexts {
		checkNumericBinary(t, s)
	}
}

// checkNumericBinary compares AppendNumericBinary with the reference
// encoder on s, appending to a non-empty buffer.
func checkNumericBinary(t *testing.T, s string) {
	t.Helper()
	want, wantErr := referenceAppendNumericBinary([]byte("x"), []byte(s))
	got, err := AppendNumericBinary([]byte("x"), []byte(s))
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("%q: got %x (%v), want %x (%v)", s, got, err, want, wantErr)
	}
	if err != nil && len(s) <= maxQuotedText && err.Error() != wantErr.Error() {
		t.Fatalf("%q: error %q, want %q", s, err, wantErr)
	}
}

func FuzzAppendNumericBinary(f *testing.F) {
	for _, s := range numericTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4000 {
			return // the reference does not check the format's limits
		}
		checkNumericBinary(t, s)
	})
}

func TestAppendNumericBinaryLimits(t *testing.T) {
	digits := func(c string, n int) string { return strings.Repeat(c, n) }
	for _, tc := range []struct {
		name string
		text string
		fits bool
	}{
		{"dscale 16383", "1." + digits("1", 0x3FFF), true},
		{"dscale 16384", "1." + digits("1", 0x3FFF+1), false},
		{"131072 digits before the point", "1" + digits("0", 131071), true},
		{"131073 digits before the point (weight 32768)", "1" + digits("0", 131072), false},
		{"an exponent of 1000", "1e1000", true},
		{"leading zeros do not count", digits("0", 262144) + "1", true},
		{"nor before a long integer part", digits("0", 300000) + "1" + digits("0", 131071), true},
	} {
		b, err := AppendNumericBinary(nil, []byte(tc.text))
		if tc.fits != (err == nil) {
			t.Errorf("%s: err %v, want it to fit: %v", tc.name, err, tc.fits)
			continue
		}
		if err != nil {
			continue
		}
		if int(binary.BigEndian.Uint16(b)) != (len(b)-8)/2 {
			t.Errorf("%s: header says %d digits, has %d", tc.name, binary.BigEndian.Uint16(b), (len(b)-8)/2)
		}
		if len(tc.text) < 140000 {
			if want, _ := referenceAppendNumericBinary(nil, []byte(tc.text)); !bytes.Equal(b, want) {
				t.Errorf("%s: differs from the reference encoder", tc.name)
			}
		}
		// The text form round-trips (leading zeros aside).
		back, err := AppendNumericText(nil, b)
		if want := strings.TrimLeft(tc.text, "0"); err != nil || tc.name != "an exponent of 1000" && string(back) != want {
			t.Errorf("%s: back to text: %.40q... (%v)", tc.name, back, err)
		}
	}
}

func TestAppendNumericBinaryAllocatesNothing(t *testing.T) {
	dst := make([]byte, 0, 64)
	text := []byte("-12345.6789e1")
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendNumericBinary(dst[:0], text) }); n != 0 {
		t.Errorf("AppendNumericBinary allocates %v times per call", n)
	}
}

// numericTextColumn builds a utf8 column of texts, every nullEvery-th
// row NULL (0: none) with data behind it.
func numericTextColumn(texts []string, nullEvery int) *rawReader {
	r := &rawReader{validity: make([]byte, len(texts)/8+1), offsets: binary.LittleEndian.AppendUint32(nil, 0)}
	for i, s := range texts {
		r.values = append(r.values, s...)
		r.offsets = binary.LittleEndian.AppendUint32(r.offsets, uint32(len(r.values)))
		if nullEvery > 0 && i%nullEvery == 0 {
			r.nulls++
		} else {
			r.validity[i>>3] |= 1 << (uint(i) & 7)
		}
	}
	return r
}

func TestNumericTextColumnPath(t *testing.T) {
	var valid []string
	for _, s := range numericTexts {
		if _, err := referenceAppendNumericBinary(nil, []byte(s)); err == nil {
			valid = append(valid, s)
		}
	}
	types := []Type{{Kind: KindNumericText}, {Kind: KindInt64}}
	for _, nullEvery := range []int{0, 1, 3} {
		col := numericTextColumn(valid, nullEvery)
		checkRawMatchesGeneric(t, types, []Reader{col, newRawReader(KindInt64, len(valid), 2)}, 0, len(valid))
	}
	// Only plain numbers of at most maxSlotDigits base-10000 digits take
	// the column path; the rest of their batch goes row by row, with the
	// same bytes.
	plain := []string{"1", "-0.5", "12345.67", "0", "999999999999999999999999999999999999.99"}
	for _, tc := range []struct {
		extra  string
		column bool
	}{
		{"", true},
		{"1e3", true},
		{"NaN", false},
		{"-Infinity", false},
		{"1" + string(bytes.Repeat([]byte("0"), 4*maxSlotDigits-1)), true},
		{"1" + string(bytes.Repeat([]byte("0"), 4*maxSlotDigits-1)) + ".0001", false},
	} {
		texts := plain
		if tc.extra != "" {
			texts = append(append([]string(nil), plain...), tc.extra)
		}
		col := numericTextColumn(texts, 0)
		enc, err := NewEncoder(types[:1], types[:1])
		if err != nil {
			t.Fatal(err)
		}
		enc.setRaw([]Reader{col})
		if _, ok := enc.appendColumns(nil, 0, len(texts)); ok != tc.column {
			t.Errorf("%q: column path %v, want %v", tc.extra, ok, tc.column)
		}
		checkRawMatchesGeneric(t, types[:1], []Reader{col}, 0, len(texts))
	}
	// An invalid text fails the batch with the row path's error.
	col := numericTextColumn([]string{"1", "1.2.3"}, 0)
	enc, err := NewEncoder(types[:1], types[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.AppendRows(nil, []Reader{col}, 0, 2); err == nil || err.Error() != `row 1 column 0: invalid numeric "1.2.3"` {
		t.Errorf("invalid text: %v", err)
	}
}

// randomNumericText returns a numeric text drawn from v.
func randomNumericText(v uint64) string {
	switch v % 16 {
	case 0:
		return "NaN"
	case 1:
		return fmt.Sprintf("%de%d", v>>40, int(v>>8%40)-20)
	case 2:
		return strconv.FormatUint(v>>4, 10) + "." + strconv.FormatUint(v>>20%1000000, 10)
	case 3:
		return "-0." + strconv.FormatUint(v>>8%1000, 10)
	case 4:
		// 30 to 60 digits around the point: more base-10000 digits than
		// a slot holds, so the batch goes row by row.
		d := strings.Repeat(strconv.FormatUint(v>>4, 10), 4)[:30+int(v>>8%31)]
		return d[:len(d)/2] + "." + d[len(d)/2:]
	case 5:
		// Leading zeros and a long zero fraction.
		return "000" + strconv.FormatUint(v>>40, 10) + "." + strings.Repeat("0", int(v>>8%50)) + "1"
	}
	return fmt.Sprintf("%d.%02d", int64(v>>20%20000000)-10000000, v>>4%100)
}

func BenchmarkAppendNumericBinary(b *testing.B) {
	texts := make([][]byte, 1024)
	for i := range texts {
		texts[i] = []byte(fmt.Sprintf("%d.%02d", i*7919%10000000-5000000, i%100))
	}
	dst := make([]byte, 0, 64)
	for b.Loop() {
		for _, t := range texts {
			dst, _ = AppendNumericBinary(dst[:0], t)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(texts)), "ns/value")
}

// referenceAppendNumericText is the AppendNumericText before its digits
// were printed without strconv: the reference the faster one must match.
func referenceAppendNumericText(dst, src []byte) ([]byte, error) {
	n, weight, sign, dscale, digits, err := numericHeader(src)
	if err != nil {
		return dst, err
	}
	switch sign {
	case numNaN:
		return append(dst, "NaN"...), nil
	case numPInf:
		return append(dst, "Infinity"...), nil
	case numNInf:
		return append(dst, "-Infinity"...), nil
	case numNeg:
		dst = append(dst, '-')
	}
	digit := func(i int) int {
		if i < 0 || i >= n {
			return 0
		}
		return int(binary.BigEndian.Uint16(digits[2*i:]))
	}
	if weight < 0 {
		dst = append(dst, '0')
	} else {
		for i := 0; i <= weight; i++ {
			d := digit(i)
			if i == 0 {
				dst = strconv.AppendInt(dst, int64(d), 10)
				continue
			}
			dst = append(dst, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
		}
	}
	if dscale > 0 {
		dst = append(dst, '.')
		for i, left := weight+1, dscale; left > 0; i++ {
			d := digit(i)
			four := [4]byte{byte('0' + d/1000), byte('0' + d/100%10), byte('0' + d/10%10), byte('0' + d%10)}
			k := min(4, left)
			dst = append(dst, four[:k]...)
			left -= k
		}
	}
	return dst, nil
}

func TestAppendNumericTextMatchesReference(t *testing.T) {
	for _, s := range numericTexts {
		bin, err := referenceAppendNumericBinary(nil, []byte(s))
		if err != nil {
			continue
		}
		checkNumericText(t, bin)
	}
	// Binary numerics PostgreSQL sends that no text above produces:
	// dscales shorter and longer than the digits, weights past them.
	for _, h := range [][4]int{{1, 0, 0, 0}, {1, 0, 0, 7}, {2, -3, 0, 0}, {2, -3, 0, 15}, {1, 5, 0x4000, 2}, {3, 1, 0, 1}, {0, 0, 0, 3}} {
		bin := appendNumHeader(nil, h[0], h[1], uint16(h[2]), h[3])
		for i := range h[0] {
			bin = appendBE16(bin, uint16(1+i*4321%9999))
		}
		checkNumericText(t, bin)
	}
	// PostgreSQL never sends a first digit over 9999; printed as before.
	checkNumericText(t, appendBE16(appendNumHeader(nil, 1, 0, 0, 0), 65535))
}

// checkNumericText compares AppendNumericText with the reference on bin.
func checkNumericText(t *testing.T, bin []byte) {
	t.Helper()
	want, wantErr := referenceAppendNumericText([]byte("x"), bin)
	got, err := AppendNumericText([]byte("x"), bin)
	if string(got) != string(want) || (err == nil) != (wantErr == nil) {
		t.Fatalf("%x: got %q (%v), want %q (%v)", bin, got, err, want, wantErr)
	}
}

func FuzzAppendNumericText(f *testing.F) {
	f.Add([]byte{0, 2, 0, 1, 0x40, 0, 0, 5, 0x12, 0x34, 0x05, 0x67})
	f.Fuzz(func(t *testing.T, b []byte) {
		// A header, then base-10000 digits (the format's domain).
		if len(b) < 8 {
			return
		}
		bin := append([]byte(nil), b[:8]...)
		n := int(b[0]) % 40
		bin[0], bin[1] = 0, byte(n)
		bin[6] &= 0x3f // dscale up to 0x3FFF
		for i := range n {
			v := uint16(i * 7919)
			if 8+2*i+1 < len(b) {
				v = uint16(b[8+2*i])<<8 | uint16(b[8+2*i+1])
			}
			bin = appendBE16(bin, v%10000)
		}
		checkNumericText(t, bin)
	})
}
