package app

import (
	"slices"
	"testing"
)

func TestPipelineConnectors(t *testing.T) {
	const p = "version: \"1.0\"\npipeline: x\nsource:\n  use: source-postgres@1.2.0\n  config: {}\ndestination:\n  use: dest-postgres\n"
	for _, tc := range []struct {
		name, text  string
		destination bool
		want        []string
	}{
		{"source only", p, false, []string{"source-postgres"}},
		{"both, version dropped", p, true, []string{"source-postgres", "dest-postgres"}},
		{"same connector once", "source: {use: x}\ndestination: {use: x}\n", true, []string{"x"}},
		{"variable skipped", "source: {use: \"${SRC}\"}\ndestination: {use: dest-postgres}\n", true, []string{"dest-postgres"}},
		{"invalid yaml", "source: [\n", true, nil},
		{"no use", "source: {config: {}}\n", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pipelineConnectors(tc.text, tc.destination); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
