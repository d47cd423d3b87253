package cdc

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTupleRoundTrip(t *testing.T) {
	vals := []Value{{Kind: KindText, Data: []byte("42")}, {Kind: KindNull}, {Kind: KindUnchanged}, {Kind: KindText, Data: []byte{}}}
	got, err := DecodeTuple(AppendTuple(nil, vals), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Value{{Kind: KindText, Data: []byte("42")}, {Kind: KindNull}, {Kind: KindUnchanged}, {Kind: KindText, Data: []byte{}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

func TestDecodeTupleRejectsBadInput(t *testing.T) {
	good := AppendTuple(nil, []Value{{Kind: KindText, Data: []byte("abc")}})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"missing length": good[:4],
		"bad kind":       {0, 1, 'x'},
		"missing value":  {0, 2, 'n'},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeTuple(b, nil); !errors.Is(err, ErrBadTuple) {
				t.Errorf("DecodeTuple(%v) = %v, want ErrBadTuple", b, err)
			}
		})
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"pg_to_pg":                     "rapidbyte_pg_to_pg",
		"Orders-Sync v2":               "rapidbyte_orders_sync_v2",
		"":                             "rapidbyte_",
		"x" + string(make([]byte, 80)): "rapidbyte_x" + "_____________________________________________________"[:52],
	} {
		got := DefaultName(in)
		if got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", in, got, want)
		}
		if !ValidName(got) {
			t.Errorf("DefaultName(%q) = %q is not a valid name", in, got)
		}
	}
	if ValidName("Bad-Name") || ValidName("1abc") {
		t.Error("ValidName accepted an invalid name")
	}
}

// TestValidNameAgreesWithItsExpression checks the hand-written ValidName
// against the expression it replaced, on every string of up to 3 bytes
// from the bytes it distinguishes and on names around the length limit.
func TestValidNameAgreesWithItsExpression(t *testing.T) {
	oracle := regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	alphabet := []string{"a", "z", "_", "0", "9", "A", "-", " ", "é", "\x00"}
	inputs := []string{""}
	for range 3 {
		for _, s := range inputs {
			for _, c := range alphabet {
				inputs = append(inputs, s+c)
			}
		}
	}
	for _, n := range []int{62, 63, 64} {
		inputs = append(inputs, strings.Repeat("a", n), "_"+strings.Repeat("9", n-1))
	}
	for _, s := range inputs {
		if got, want := ValidName(s), oracle.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, the expression says %v", s, got, want)
		}
	}
}

func TestSplitTable(t *testing.T) {
	for _, c := range []struct{ in, def, schema, name string }{
		{"public.t", "x", "public", "t"},
		{"t", "app", "app", "t"},
		{"t", "", "public", "t"},
	} {
		if s, n := SplitTable(c.in, c.def); s != c.schema || n != c.name {
			t.Errorf("SplitTable(%q, %q) = %q, %q; want %q, %q", c.in, c.def, s, n, c.schema, c.name)
		}
	}
}
