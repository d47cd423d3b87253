package pipelines

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// pair is a source and a destination database of one test.
type pair struct {
	src, dst *e2etest.DB
}

// newPair requires the binaries and creates rb_e2a_<name>_src and _dst.
func newPair(t *testing.T, name string) pair {
	t.Helper()
	e2etest.RequireBinaries(t)
	return pair{
		src: e2etest.NewDatabase(t, "rb_e2a_"+name+"_src"),
		dst: e2etest.NewDatabase(t, "rb_e2a_"+name+"_dst"),
	}
}

// pipeline returns a pipeline from p.src (schema public) to p.dst (schema dstSchema).
func (p pair) pipeline(name, dstSchema, writeMode string, streams ...e2etest.Stream) e2etest.Pipeline {
	return e2etest.Pipeline{
		Name:        name,
		Source:      e2etest.PGConfig(p.src, "public"),
		Destination: e2etest.PGConfig(p.dst, dstSchema),
		Streams:     streams,
		WriteMode:   writeMode,
	}
}

// runOK runs `rapidbyte run -o json FILE` and requires exit 0 and state SUCCEEDED.
func runOK(t *testing.T, env e2etest.Env, file string, extra ...string) (*e2etest.RunResult, e2etest.Result) {
	t.Helper()
	args := append([]string{"run", "-o", "json"}, extra...)
	res := e2etest.RunCLI(t, env, append(args, file)...)
	res.RequireExit(t, 0)
	rr := res.MustRunJSON(t)
	if rr.State != "SUCCEEDED" {
		t.Fatalf("run state %s, want SUCCEEDED\n%s", rr.State, res)
	}
	return rr, res
}

// wantEqual fails when got != want, naming what.
func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// contains fails unless s contains sub.
func contains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s does not contain %q:\n%s", what, sub, s)
	}
}

func join(s []string) string { return strings.Join(s, ", ") }

func itoa(n int) string { return strconv.Itoa(n) }
