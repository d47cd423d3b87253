package app

import "testing"

func TestPrefixFile(t *testing.T) {
	tests := map[string]string{
		"3:5: source.use: required":                "p.yaml:3:5: source.use: required",
		"12: bad indentation":                      "p.yaml:12: bad indentation",
		"pipeline.yaml:4:2: unknown field \"x\"":   "p.yaml:4:2: unknown field \"x\"",
		"pipeline.yaml: ${PG_PASSWORD} is not set": "p.yaml: ${PG_PASSWORD} is not set",
		"yaml: line 7: did not find expected key":  "p.yaml:7: did not find expected key",
		"line 2, column 4: mapping not allowed":    "p.yaml:2:4: mapping not allowed",
		"version is required":                      "p.yaml: version is required",
	}
	for in, want := range tests {
		if got := prefixFile("p.yaml", in); got != want {
			t.Errorf("prefixFile(%q) = %q, want %q", in, got, want)
		}
	}
}
