package dest

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The hand-written matchers replaced these expressions (regexp is about a
// fifth of a guest's code); they stay here as the oracle the matchers must
// agree with on every input.
var (
	typeNameOracle   = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_ $]*|"[^"\x00]+")(?:\.(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"\x00]+"))?(?:\(\s*\d+\s*(?:,\s*-?\d+\s*)?\))?(?: with(?:out)? time zone)?(?:\[\])?$`)
	varcharOracle    = regexp.MustCompile(`^character varying(?:\((\d+)\))?$`)
	numericOracle    = regexp.MustCompile(`^numeric(?:\((\d+),(\d+)\))?$`)
	copyLineOracle   = regexp.MustCompile(`COPY .*, line (\d+)`)
	copyColumnOracle = regexp.MustCompile(`, line \d+, column ([^:]+)`)
)

// matcherTokens are the pieces the generated inputs are made of: every
// byte class the expressions distinguish, and the words they expect.
var matcherTokens = []string{
	"a", "Z", "_", "$", "9", " ", "\t", "\n", "\f", "\r", "\v", "\x00", "\xff", "é", "\"", ".", "(", ")", ",", "-", ":", "[", "]", "[]",
	"timestamp", "public", "\"My Type\"", "\"\"", " with time zone", " without time zone", " with", "time zone",
	"character varying", "numeric", "text", "(3)", "(10,2)", "( 5 , -2 )", "12",
	"COPY ", "COPY t", ", line ", ", line 7", ", column ", ", column c: x", "line 3",
}

// generated returns n inputs of 1 to 7 tokens, the same on every run.
func generated(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range 1 + r.IntN(7) {
			b.WriteString(matcherTokens[r.IntN(len(matcherTokens))])
		}
		out[i] = b.String()
	}
	return out
}

var matcherSeeds = []string{
	"", "integer", "timestamp with time zone", "timestamp(3) without time zone", "public.\"My Type\"[]",
	"numeric( 10 , -2 )[]", "character varying(20)", "character varying", "character varying()", "numeric(10,2)",
	"numeric(10)", "numeric(,2)", "\"a\x00b\"", "a.b.c", "9abc", "int; DROP TABLE x", "text[][]",
	"COPY t, line 3, column c: bad", "COPY t, line 3", "COPY t, line x, line 12", "COPY a\n, line 3",
	", line 4, column :x", ", line 4, column x", "COPY , line 1", "COPY COPY t, line 2, column a\nb: c",
}

// checkMatchers fails t when a hand matcher and its oracle disagree on s.
func checkMatchers(t *testing.T, s string) {
	t.Helper()
	if got, want := validTypeName(s), typeNameOracle.MatchString(s); got != want {
		t.Errorf("validTypeName(%q) = %v, the expression says %v", s, got, want)
	}
	n, ok := varcharLength(s)
	if m := varcharOracle.FindStringSubmatch(s); ok != (m != nil) || ok && n != m[1] {
		t.Errorf("varcharLength(%q) = %q, %v; the expression says %q", s, n, ok, m)
	}
	p, sc, ok := numericModifiers(s)
	if m := numericOracle.FindStringSubmatch(s); ok != (m != nil) || ok && (p != m[1] || sc != m[2]) {
		t.Errorf("numericModifiers(%q) = %q, %q, %v; the expression says %q", s, p, sc, ok, m)
	}
	line, ok := copyLineNumber(s)
	if m := copyLineOracle.FindStringSubmatch(s); ok != (m != nil) || ok && line != m[1] {
		t.Errorf("copyLineNumber(%q) = %q, %v; the expression says %q", s, line, ok, m)
	}
	col, ok := copyColumnName(s)
	if m := copyColumnOracle.FindStringSubmatch(s); ok != (m != nil) || ok && col != m[1] {
		t.Errorf("copyColumnName(%q) = %q, %v; the expression says %q", s, col, ok, m)
	}
}

func TestMatchersAgreeWithTheirExpressions(t *testing.T) {
	matched := 0
	for _, s := range append(matcherSeeds, generated(200000)...) {
		checkMatchers(t, s)
		if validTypeName(s) {
			matched++
		}
	}
	// The generated inputs must exercise both answers, or the agreement
	// above says little.
	if matched < 1000 {
		t.Errorf("only %d inputs are valid type names; the generator no longer reaches the matcher's accepting paths", matched)
	}
}

func FuzzMatchers(f *testing.F) {
	for _, s := range matcherSeeds {
		f.Add(s)
	}
	f.Fuzz(checkMatchers)
}
