package sdktest

import (
	"bytes"
	"strings"
	"testing"
)

func TestReportOutsideGoTest(t *testing.T) {
	var out bytes.Buffer
	r := NewReport(&out)
	r.Run("ok", func(T) {})
	r.Run("fatal", func(t T) {
		t.Fatalf("first %d", 1)
		t.Errorf("never reached")
	})
	r.Run("panics", func(T) { panic("boom") })
	if !r.Failed() {
		t.Fatal("report with failed subtests says it passed")
	}
	got := out.String()
	for _, want := range []string{"--- PASS: ok", "    first 1\n", "--- FAIL: fatal", "panic: boom", "--- FAIL: panics"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "never reached") {
		t.Errorf("Fatalf did not end the subtest:\n%s", got)
	}
	clean := NewReport(&out)
	clean.Run("a", func(t T) { t.Run("b", func(T) {}) })
	if clean.Failed() {
		t.Error("report of passing subtests says it failed")
	}
	if !strings.Contains(out.String(), "--- PASS: a/b") {
		t.Errorf("nested subtest not named a/b:\n%s", out.String())
	}
}
