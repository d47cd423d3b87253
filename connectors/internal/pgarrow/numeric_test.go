package pgarrow

import (
	"math/big"
	"testing"
)

func TestNumericRoundTrip(t *testing.T) {
	texts := []string{"0", "1", "-1", "1234.56", "-9999999999.99", "0.01", "-0.01", "10000", "100000000.5",
		"12345.6789012345", "0.0000000001", "99999999999999999999999999999999999999", "NaN", "Infinity", "-Infinity",
		"3.14159265358979323846264338327950288419716939937510"}
	for _, s := range texts {
		bin, err := AppendNumericBinary(nil, []byte(s))
		if err != nil {
			t.Fatalf("encode %q: %v", s, err)
		}
		back, err := AppendNumericText(nil, bin)
		if err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		if string(back) != s {
			t.Errorf("round trip %q -> %q", s, back)
		}
	}
}

func TestNumericToDecimal(t *testing.T) {
	tests := []struct {
		text  string
		scale int
		want  string
	}{
		{"1234.56", 2, "123456"},
		{"-1234.5", 2, "-123450"},
		{"0.5", 2, "50"},
		{"10000", 0, "10000"},
		{"-9999999999999999999999999999.9999999999", 10, "-99999999999999999999999999999999999999"},
		{"1.005", 2, "101"},
	}
	for _, tc := range tests {
		bin, _ := AppendNumericBinary(nil, []byte(tc.text))
		lo, hi, err := NumericToDecimal128(bin, tc.scale)
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		if got := wordsToBig([]uint64{lo, hi}).String(); got != tc.want {
			t.Errorf("NumericToDecimal128(%s, %d) = %s, want %s", tc.text, tc.scale, got, tc.want)
		}
		w, err := NumericToDecimal256(bin, tc.scale)
		if err != nil || wordsToBig(w[:]).String() != tc.want {
			t.Errorf("NumericToDecimal256(%s) = %v, %v", tc.text, wordsToBig(w[:]), err)
		}
	}
	nan, _ := AppendNumericBinary(nil, []byte("NaN"))
	if _, _, err := NumericToDecimal128(nan, 2); err != ErrNumericSpecial {
		t.Errorf("NaN -> %v, want ErrNumericSpecial", err)
	}
}

func TestAppendNumericInt64MatchesText(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 123456, -100, 10000, 99999999, 1 << 62, -(1 << 62)} {
		for _, scale := range []int{0, 1, 2, 4, 5, 9, 15, 16} {
			fast := appendNumericInt64(nil, v, scale)
			txt := appendScaled(nil, big.NewInt(v).String(), scale)
			slow, err := AppendNumericBinary(nil, txt)
			if err != nil {
				t.Fatal(err)
			}
			if string(fast) != string(slow) {
				t.Errorf("v=%d scale=%d: fast %x, text %x", v, scale, fast, slow)
			}
		}
	}
}

func TestFromPG(t *testing.T) {
	typmod := func(p, s int) int32 { return int32(p<<16|s) + 4 }
	tests := []struct {
		in   PGType
		want string
	}{
		{PGType{OID: OIDNumeric, Typmod: typmod(12, 2)}, "decimal128(12, 2)"},
		{PGType{OID: OIDNumeric, Typmod: typmod(38, 0)}, "decimal128(38, 0)"},
		{PGType{OID: OIDNumeric, Typmod: typmod(39, 5)}, "decimal256(39, 5)"},
		{PGType{OID: OIDNumeric, Typmod: typmod(77, 5)}, "utf8"},
		{PGType{OID: OIDNumeric, Typmod: -1}, "utf8"},
		{PGType{OID: OIDTimestampTZ, Typmod: -1}, "timestamp[us, UTC]"},
		{PGType{OID: 1007, Typmod: -1, Elem: &PGType{OID: OIDInt4}}, "list<int32>"},
		{PGType{OID: 600, Typmod: -1}, "utf8"},
		{PGType{OID: 12345, IsEnum: true}, "utf8"},
	}
	for _, tc := range tests {
		if got := FromPG(tc.in).Arrow(); got != tc.want {
			t.Errorf("FromPG(%+v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if !FromPG(PGType{OID: 600}).Cast {
		t.Error("point is not cast to text")
	}
}

func TestParseArrow(t *testing.T) {
	for in, want := range map[string]string{
		"int64": "int64", "timestamp[us, UTC]": "timestamp[us, UTC]", "timestamp[us,Europe/Paris]": "timestamp[us, UTC]",
		"decimal128(12,2)": "decimal128(12, 2)", "list< list<utf8> >": "list<list<utf8>>", "string": "utf8",
	} {
		got, err := ParseArrow(in)
		if err != nil || got.Arrow() != want {
			t.Errorf("ParseArrow(%q) = %s, %v; want %s", in, got.Arrow(), err, want)
		}
	}
	for _, in := range []string{"int8", "uint64", "timestamp[ns]", "time64[ns]", "decimal128(40, 2)", "bogus"} {
		if _, err := ParseArrow(in); err == nil {
			t.Errorf("ParseArrow(%q) succeeded", in)
		}
	}
}
