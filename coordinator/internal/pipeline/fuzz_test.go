package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		designExample, minimal, withSecrets, "", "a: [\n", "- 1\n", "version: 1.0\n\tx: y\n",
		"a: &x [*x]\n", "source: {config: {<<: {a: 1}}}\n", "source:\n  config: {p: \"${\"}\n",
		"x: &a {b: *a}\n", "source: {config: &c {a: [*c]}}\n", "resources: {max_batch_bytes: 1e400kb}\n",
		"? [a]\n: b\n", "--- !!map\n? a\n",
	} {
		f.Add([]byte(seed))
	}
	lookup := vars("PG_PASSWORD", "pw", "HOST", "h", "PORT", "5432", "KEY", "k", "FLAG", "1")
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse(src, lookup)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a non-empty *ValidationError: %v", err)
			}
			for i := 1; i < len(ve.Problems); i++ {
				if ve.Problems[i].Line < ve.Problems[i-1].Line {
					t.Fatalf("problems not sorted: %v", ve.Problems)
				}
			}
			_ = ve.Error()
			return
		}
		if p == nil {
			t.Fatal("nil pipeline without error")
		}
		if _, err := p.Resolve(lookup); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Resolve error is not a *ValidationError: %v", err)
			}
		}
		_ = Redact(p.Source.Config, nil)
		if _, err := RedactYAML(src, nil); err != nil {
			t.Fatalf("RedactYAML failed on a pipeline Parse accepted: %v", err)
		}
	})
}

func TestParseHostileAliases(t *testing.T) {
	head := "version: \"1.0\"\npipeline: p\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"self-referencing config", head + "source: {use: s, streams: [{name: a}]}\ndestination: {use: d, config: &c {a: *c, b: [*c]}}\n",
			"4:38: alias *c refers to a node that contains it"},
		{"self-merging section", head + "source: &s {use: s, streams: [{name: a}], <<: *s}\ndestination: {use: d}\n",
			"3:47: alias *s refers to a node that contains it"},
		{"alias bomb", head + "source: {use: s, streams: [{name: a}]}\ndestination:\n  use: d\n  config:\n" + aliasBomb(),
			"config is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want %q", err, tt.want)
			}
			if _, err := RedactYAML([]byte(tt.src), nil); err == nil && tt.name != "alias bomb" {
				t.Error("RedactYAML accepted a recursive alias")
			}
		})
	}
}

// aliasBomb nests 20 levels of 10 aliases each ("billion laughs").
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 20; i++ {
		fmt.Fprintf(&b, "    l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}
