package kit

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// make runs a target of a generated module's Makefile, with the repo's
// rapidbyte binary and the go workspace off (as outside the repo).
func runMake(t *testing.T, dir string, env e2etest.Env, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"-C", dir, "RAPIDBYTE=" + e2etest.BinPath(t, "rapidbyte")}, args...)...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %v in %s: %v\n%s", args, dir, err, out)
	}
	return string(out)
}

// outsideRepo returns a fresh directory that is not under the repository
// (so no go.work applies to it).
func outsideRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(e2etest.RepoRoot(t), dir)
	if err != nil || !strings.HasPrefix(rel, "..") {
		t.Fatalf("temp dir %s is inside the repository %s; set TMPDIR elsewhere", dir, e2etest.RepoRoot(t))
	}
	return dir
}

// TestGeneratedSourceToPostgres is the author's path for a source: init,
// native test, wasm build and pack, the conformance runner on the module,
// install, and a pipeline into PostgreSQL whose rows are checked.
func TestGeneratedSourceToPostgres(t *testing.T) {
	e2etest.RequireBinaries(t)
	db := e2etest.NewDatabase(t, "rb_kit_src")
	dir := filepath.Join(outsideRepo(t), "source-sequence")

	res := e2etest.RunCLI(t, nil, "connector", "init", "source-sequence", "--role", "source", "--dir", dir, "--module", "example.com/acme/source-sequence")
	res.RequireExit(t, 0)
	sdk := filepath.Join(e2etest.RepoRoot(t), "sdk")
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gomod), "module example.com/acme/source-sequence\n") || !strings.Contains(string(gomod), "=> "+sdk+"\n") {
		t.Fatalf("go.mod lacks the module path or the replace to %s:\n%s", sdk, gomod)
	}

	runMake(t, dir, nil, "test")
	runMake(t, dir, nil)
	wasm := filepath.Join(dir, "source-sequence.wasm")
	if st, err := os.Stat(wasm); err != nil || st.Size() == 0 {
		t.Fatalf("make built no module: %v", err)
	}

	cache := e2etest.CacheDir(t)
	env := e2etest.Env{"RAPIDBYTE_CACHE_DIR": cache}
	res = e2etest.RunCLI(t, env, "connector", "test", wasm, "--config", filepath.Join(dir, "config.json"), "--bad-config", writeJSON(t, `{"count": "many"}`))
	res.RequireExit(t, 0)
	for _, want := range []string{"--- PASS: source/read items full_refresh", "--- PASS: source/read items incremental",
		"--- PASS: source/bad config is a config error", "PASS source-sequence 0.1.0"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("connector test output lacks %q:\n%s", want, res.Stdout)
		}
	}
	// A config the suite must reject but the connector accepts fails the run.
	res = e2etest.RunCLI(t, env, "connector", "test", wasm, "--bad-config", writeJSON(t, `{"count": 5}`))
	res.RequireExit(t, 1)
	if !strings.Contains(res.Stdout, "--- FAIL: source/bad config is a config error") {
		t.Errorf("connector test with a valid --bad-config did not fail that check:\n%s", res.Stdout)
	}

	connectors := t.TempDir()
	dest, err := os.ReadFile(filepath.Join(e2etest.ConnectorsDir(t), "dest-postgres.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(connectors, "dest-postgres.wasm"), dest, 0o644); err != nil {
		t.Fatal(err)
	}
	runMake(t, dir, nil, "install", "CONNECTORS_DIR="+connectors)

	env = e2etest.NewEmbeddedEnv(t).With("RAPIDBYTE_CONNECTORS_DIR", connectors).
		With("PG_HOST", db.Host).With("PG_PORT", itoa(db.Port)).With("PG_USER", db.User).
		With("PG_PASSWORD", db.Password).With("PG_DATABASE", db.Name)
	res = e2etest.RunCLI(t, env, "-o", "json", "run", filepath.Join(dir, "pipeline.yaml"))
	res.RequireExit(t, 0)
	run := res.MustRunJSON(t)
	if run.RecordsWritten != 1000 {
		t.Errorf("run wrote %d records, want 1000", run.RecordsWritten)
	}
	if n := db.Int64(t, `SELECT count(*) FROM public.items WHERE label = 'item ' || id`); n != 1000 {
		t.Errorf("destination has %d rows (id, 'item <id>'), want 1000", n)
	}
	if got := db.Strings(t, `SELECT min(id)::text || '-' || max(id)::text || '/' || count(DISTINCT id)::text FROM public.items`); len(got) != 1 || got[0] != "0-999/1000" {
		t.Errorf("destination ids %v, want 0-999/1000", got)
	}
}

// TestGeneratedDestination builds the destination template and runs the
// conformance runner on it.
func TestGeneratedDestination(t *testing.T) {
	e2etest.RequireBinaries(t)
	dir := filepath.Join(outsideRepo(t), "dest-counter")
	e2etest.RunCLI(t, nil, "connector", "init", "dest-counter", "--role", "destination", "--dir", dir).RequireExit(t, 0)
	runMake(t, dir, nil, "test")
	runMake(t, dir, nil)
	res := e2etest.RunCLI(t, e2etest.Env{"RAPIDBYTE_CACHE_DIR": e2etest.CacheDir(t)}, "connector", "test", filepath.Join(dir, "dest-counter.wasm"),
		"--bad-config", writeJSON(t, `{"max_rows": -1}`))
	res.RequireExit(t, 0)
	for _, want := range []string{"--- PASS: destination/write 100 rows in 2 batches", "--- PASS: destination/write empty stream", "PASS dest-counter 0.1.0"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("connector test output lacks %q:\n%s", want, res.Stdout)
		}
	}
}

// TestInitRefusesBadInput covers the init errors an author meets first.
func TestInitRefusesBadInput(t *testing.T) {
	e2etest.RequireBinaries(t)
	dir := outsideRepo(t)
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"Source_X", "--role", "source", "--dir", filepath.Join(dir, "a")}, 1, "use lower-case letters"},
		{[]string{"source-x", "--dir", filepath.Join(dir, "b")}, 2, "--role is required"},
		{[]string{"source-x", "--role", "sink", "--dir", filepath.Join(dir, "c")}, 1, `role "sink"`},
		{[]string{"source-x", "--role", "source", "--dir", dir}, 1, "is not empty"},
	} {
		res := e2etest.RunCLI(t, nil, append([]string{"connector", "init"}, c.args...)...)
		res.RequireExit(t, c.code)
		if !strings.Contains(res.Stderr, c.want) {
			t.Errorf("init %v: stderr lacks %q:\n%s", c.args, c.want, res.Stderr)
		}
	}
	res := e2etest.RunCLI(t, nil, "connector", "test", filepath.Join(dir, "missing.wasm"))
	res.RequireExit(t, 1)
	if !strings.Contains(res.Stderr, "not found") {
		t.Errorf("connector test of a missing module: %s", res.Stderr)
	}
}

func writeJSON(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }

// TestRbpackGoInstall publishes this checkout's sdk as version v0.0.1 in a
// file-based module proxy and installs rbpack from it the way an author
// will once the sdk is released: `go install
// github.com/rapidbyte/rapidbyte/sdk/cmd/rbpack@v0.0.1` outside any
// module. It fails if the sdk's go.mod gains a replace directive or rbpack
// a dependency that does not resolve.
func TestRbpackGoInstall(t *testing.T) {
	root := e2etest.RepoRoot(t)
	proxy := outsideRepo(t)
	const version = "v0.0.1"
	at := filepath.Join(proxy, "github.com", "rapidbyte", "rapidbyte", "sdk", "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := exec.Command("git", "-C", root, "ls-files", "sdk").Output()
	if err != nil {
		t.Fatalf("git ls-files sdk: %v", err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for _, f := range strings.Fields(string(files)) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create("github.com/rapidbyte/rapidbyte/sdk@" + version + "/" + strings.TrimPrefix(f, "sdk/"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "sdk", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"list": []byte(version + "\n"), version + ".info": []byte(`{"Version":"` + version + `"}`),
		version + ".mod": gomod, version + ".zip": zbuf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(at, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	gobin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/rapidbyte/rapidbyte/sdk/cmd/rbpack@"+version)
	cmd.Dir = t.TempDir()
	// The sdk's own requirements come from the local module cache.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOBIN="+gobin,
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install rbpack@%s: %v\n%s", version, err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "rbpack")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "usage: rbpack -manifest FILE -wasm FILE") {
		t.Errorf("installed rbpack without arguments: %v\n%s", err, out)
	}
}
