package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// testConnectors are the test modules under dist/testconnectors that the
// fault tests load besides the real connectors.
var testConnectors = []string{"test-generator", "test-faulty", "test-badabi"}

// connectorsDir returns a new directory holding symlinks to every module of
// dist/connectors and the test modules of dist/testconnectors, plus the
// files of extra (name → content), e.g. a fake module.
func connectorsDir(t *testing.T, extra map[string]string) string {
	t.Helper()
	e2etest.RequireBinaries(t)
	root := e2etest.RepoRoot(t)
	dir := t.TempDir()
	link := func(path string) {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("missing %s: run make build wasm", path)
		}
		if err := os.Symlink(path, filepath.Join(dir, filepath.Base(path))); err != nil {
			t.Fatalf("link module: %v", err)
		}
	}
	for _, id := range e2etest.Connectors {
		link(filepath.Join(e2etest.ConnectorsDir(t), id+".wasm"))
	}
	for _, id := range testConnectors {
		link(filepath.Join(root, "dist", "testconnectors", id+".wasm"))
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	return dir
}

// clusterOpts configure startCluster.
type clusterOpts struct {
	workers int
	// dir is the connectors directory (default connectorsDir(t, nil)).
	dir string
	// coordArgs and workerArgs are extra flags (later flags win, so they
	// may override --state, --log-level, ...).
	coordArgs, workerArgs []string
	// workerEnv is extra environment for the workers.
	workerEnv e2etest.Env
	logLevel  string
}

// startCluster starts a coordinator and o.workers workers (see
// e2etest.StartCluster) serving the modules of o.dir.
func startCluster(t *testing.T, o clusterOpts) *e2etest.Cluster {
	t.Helper()
	if o.dir == "" {
		o.dir = connectorsDir(t, nil)
	}
	return e2etest.StartCluster(t, e2etest.ClusterOptions{
		Workers:         o.workers,
		LogLevel:        o.logLevel,
		CoordinatorArgs: append([]string{"--connectors-dir", o.dir}, o.coordArgs...),
		WorkerArgs:      append([]string{"--connectors-dir", o.dir}, o.workerArgs...),
		WorkerEnv:       o.workerEnv,
	})
}

// cli runs bin/rapidbyte against c.
func cli(t *testing.T, c *e2etest.Cluster, args ...string) e2etest.Result {
	t.Helper()
	return e2etest.RunCLI(t, c.Env(), args...)
}

// runStatus returns `rapidbyte status -o json id`.
func runStatus(t *testing.T, c *e2etest.Cluster, id string) *e2etest.RunResult {
	t.Helper()
	res := cli(t, c, "status", "-o", "json", id)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("status %s\n%s", id, res)
	}
	return res.MustRunJSON(t)
}

// listRuns returns `rapidbyte runs -o json --limit 500`.
func listRuns(t *testing.T, c *e2etest.Cluster) []e2etest.RunResult {
	t.Helper()
	res := cli(t, c, "runs", "-o", "json", "--limit", "500")
	res.RequireExit(t, 0)
	var runs []e2etest.RunResult
	if err := json.Unmarshal([]byte(res.Stdout), &runs); err != nil {
		t.Fatalf("decode runs: %v\n%s", err, res)
	}
	return runs
}

// submitted is the `run --detach -o json` answer.
type submitted struct {
	RunID         string `json:"run_id"`
	AlreadyExists bool   `json:"already_exists"`
	State         string `json:"state"`
}

// submit runs `rapidbyte run --detach -o json [extra...] file`.
func submit(t *testing.T, c *e2etest.Cluster, file string, extra ...string) submitted {
	t.Helper()
	args := append([]string{"run", "--detach", "-o", "json"}, extra...)
	res := cli(t, c, append(args, file)...)
	res.RequireExit(t, 0)
	var s submitted
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &s); err != nil || s.RunID == "" {
		t.Fatalf("decode submit answer (%v)\n%s", err, res)
	}
	return s
}

// waitUntil polls cond every interval until it returns true or timeout
// passes; then it fails the test with what and cond's last detail.
func waitUntil(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var detail string
	for {
		var ok bool
		ok, detail = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s (last: %s)", what, timeout, detail)
		}
		time.Sleep(interval)
	}
}

// adminQueryInts runs a query returning one int column on the admin database.
func adminQueryInts(t *testing.T, sql string, args ...any) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e2etest.AdminDSN())
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("admin query %q: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatalf("admin query %q: %v", sql, err)
	}
	return out
}

// backendPorts returns the client ports of the connector backends
// (application_name rapidbyte) connected to database db.
func backendPorts(t *testing.T, db string) []int64 {
	t.Helper()
	return adminQueryInts(t, `SELECT client_port::bigint FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'rapidbyte' AND client_port IS NOT NULL`, db)
}

// ownerOfPort returns the process among procs that owns the established
// TCP socket whose local port is port (Linux /proc), or nil.
func ownerOfPort(t *testing.T, port int64, procs []*e2etest.Process) *e2etest.Process {
	t.Helper()
	inodes := socketInodes(t, port)
	if len(inodes) == 0 {
		return nil
	}
	for _, p := range procs {
		pid := p.Pid()
		if pid == 0 || !p.Running() {
			continue
		}
		fdDir := fmt.Sprintf("/proc/%d/fd", pid)
		entries, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(target, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return p
			}
		}
	}
	return nil
}

// socketInodes returns the inodes of established TCP sockets whose local
// port is port.
func socketInodes(t *testing.T, port int64) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "01" { // 01 = ESTABLISHED
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(hexPort, 16, 64); err == nil && p == port {
				out[fields[9]] = true
			}
		}
		_ = f.Close()
	}
	return out
}

// requireOneErrorLine fails unless stderr is exactly one line starting
// with "error: " and mentioning every word of want (case-insensitive), and
// holds no sign of a crash.
func requireOneErrorLine(t *testing.T, res e2etest.Result, want ...string) {
	t.Helper()
	requireNoPanic(t, res)
	lines := strings.Split(strings.TrimRight(res.Stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") {
		t.Fatalf("want one stderr line starting with \"error: \"\n%s", res)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(lines[0]), strings.ToLower(w)) {
			t.Errorf("error line does not mention %q: %s", w, lines[0])
		}
	}
}

// requireNoPanic fails when the CLI crashed: killed by a signal, or a
// line of its stderr starts like a Go panic or runtime fatal error.
func requireNoPanic(t *testing.T, res e2etest.Result) {
	t.Helper()
	if res.ExitCode < 0 {
		t.Fatalf("CLI killed by a signal\n%s", res)
	}
	for _, line := range strings.Split(res.Stderr, "\n") {
		for _, bad := range []string{"panic: ", "fatal error: ", "goroutine ", "[signal "} {
			if strings.HasPrefix(line, bad) {
				t.Fatalf("CLI crashed (%q)\n%s", line, res)
			}
		}
	}
}
