package sdktest

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// T is one (sub)test of the conformance suite: the part of *testing.T the
// suite uses, with Run handing a T to its subtests. Testing adapts a
// *testing.T (RunSource and RunDestination use it); a Report runs the
// suite outside go test, as `rapidbyte connector test` does.
type T interface {
	Reporter
	// Run runs f as the subtest name and reports whether it passed.
	Run(name string, f func(t T)) bool
}

// Reporter is what a check needs to report a failure; testing.TB has it.
// Fatalf ends the current (sub)test.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Testing adapts t to T.
func Testing(t *testing.T) T { return testingT{t} }

type testingT struct{ *testing.T }

func (t testingT) Run(name string, f func(t T)) bool {
	return t.T.Run(name, func(t *testing.T) { f(testingT{t}) })
}

// Report is a T that runs the suite outside go test: it prints one line per
// subtest to W ("--- PASS: discover (0.12s)", "--- FAIL: read all columns"
// followed by its messages, indented) and remembers whether any failed. A
// panic in a subtest fails that subtest instead of the process.
type Report struct {
	w      io.Writer
	name   string
	depth  int
	failed bool
	parent *Report
}

// NewReport returns a Report printing to w.
func NewReport(w io.Writer) *Report { return &Report{w: w} }

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.failed }

// Helper does nothing: a Report prints no file positions.
func (r *Report) Helper() {}

// Errorf records a failure and goes on.
func (r *Report) Errorf(format string, args ...any) {
	r.fail()
	r.log(fmt.Sprintf(format, args...))
}

// Fatalf records a failure and ends the current subtest.
func (r *Report) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}

// fatal is the panic value Fatalf ends a subtest with.
type fatal struct{}

func (r *Report) fail() {
	for p := r; p != nil; p = p.parent {
		p.failed = true
	}
}

func (r *Report) log(msg string) {
	indent := strings.Repeat("    ", r.depth+1)
	for line := range strings.SplitSeq(msg, "\n") {
		fmt.Fprintf(r.w, "%s%s\n", indent, line)
	}
}

// Run runs f as a subtest, then prints its verdict.
func (r *Report) Run(name string, f func(t T)) bool {
	sub := &Report{w: r.w, name: name, depth: r.depth + 1, parent: r}
	if r.name != "" {
		sub.name = r.name + "/" + name
	}
	start := time.Now()
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(fatal); !ok {
					sub.Errorf("panic: %v", v)
				}
			}
		}()
		f(sub)
	}()
	verdict := "PASS"
	if sub.failed {
		verdict = "FAIL"
	}
	fmt.Fprintf(r.w, "%s--- %s: %s (%.2fs)\n", strings.Repeat("    ", r.depth), verdict, sub.name, time.Since(start).Seconds())
	return !sub.failed
}
