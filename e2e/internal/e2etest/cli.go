package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultCLITimeout bounds one RunCLI call.
const DefaultCLITimeout = 3 * time.Minute

// BenchMarker prefixes the JSON summary line of `run`, `status` and `watch` text output.
const BenchMarker = "@@BENCH_JSON@@"

// Env holds environment variables for a child process; they are added to
// the test's environment with every RAPIDBYTE_* variable of the test's own
// environment removed (so a developer's settings do not leak in).
type Env map[string]string

// With returns a copy of e with key=value set.
func (e Env) With(key, value string) Env {
	out := make(Env, len(e)+1)
	for k, v := range e {
		out[k] = v
	}
	out[key] = value
	return out
}

func (e Env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAPIDBYTE_") {
			out = append(out, kv)
		}
	}
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// NewEmbeddedEnv returns the environment of an embedded-mode CLI: a fresh
// sqlite state in a temporary directory (RAPIDBYTE_STATE), the repository's
// connectors (RAPIDBYTE_CONNECTORS_DIR) and the shared compilation cache
// (RAPIDBYTE_CACHE_DIR). Runs sharing an Env share state (cursors, history).
func NewEmbeddedEnv(t testing.TB) Env {
	t.Helper()
	return Env{
		"RAPIDBYTE_STATE":          "sqlite://" + filepath.Join(t.TempDir(), "state.db"),
		"RAPIDBYTE_CONNECTORS_DIR": ConnectorsDir(t),
		"RAPIDBYTE_CACHE_DIR":      CacheDir(t),
	}
}

// Result is a finished child process.
type Result struct {
	// Args are the arguments after the binary name.
	Args []string
	// Stdout and Stderr are the captured outputs.
	Stdout, Stderr string
	// ExitCode is the exit status (-1 when killed by a signal).
	ExitCode int
	// Signal names the signal that killed the process, if one did.
	Signal string
	// Duration is the wall time.
	Duration time.Duration
}

// String summarises the result for failure messages.
func (r Result) String() string {
	sig := ""
	if r.Signal != "" {
		sig = " (signal: " + r.Signal + ")"
	}
	return fmt.Sprintf("%s: exit %d%s after %s\n--- stdout:\n%s\n--- stderr:\n%s",
		strings.Join(r.Args, " "), r.ExitCode, sig, r.Duration.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// RunJSON parses the run summary: the whole stdout of `-o json`, or the
// @@BENCH_JSON@@ line of text output.
func (r Result) RunJSON() (*RunResult, error) { return ParseRunResult(r.Stdout) }

// MustRunJSON is RunJSON failing the test (with the full output) on error.
func (r Result) MustRunJSON(t testing.TB) *RunResult {
	t.Helper()
	rr, err := r.RunJSON()
	if err != nil {
		t.Fatalf("parse run JSON: %v\n%s", err, r)
	}
	return rr
}

// RequireExit fails the test unless the process exited with code.
func (r Result) RequireExit(t testing.TB, code int) {
	t.Helper()
	if r.ExitCode != code {
		t.Fatalf("want exit code %d\n%s", code, r)
	}
}

// RunCLI runs bin/rapidbyte with args and env (see NewEmbeddedEnv,
// Cluster.Env) and returns its outputs and exit code; it fails the test only
// when the binary cannot be started or DefaultCLITimeout passes.
func RunCLI(t testing.TB, env Env, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCLITimeout)
	defer cancel()
	return RunCLIContext(ctx, t, env, args...)
}

// RunCLIContext is RunCLI with a caller's context: when ctx ends the CLI
// gets SIGINT, then SIGKILL 10s later.
func RunCLIContext(ctx context.Context, t testing.TB, env Env, args ...string) Result {
	t.Helper()
	return runBinary(ctx, t, BinPath(t, "rapidbyte"), env, args...)
}

// RunBinary runs any executable (e.g. BinPath(t, "grpcurl")) like RunCLI.
func RunBinary(t testing.TB, path string, env Env, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCLITimeout)
	defer cancel()
	return runBinary(ctx, t, path, env, args...)
}

func runBinary(ctx context.Context, t testing.TB, path string, env Env, args ...string) Result {
	t.Helper()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env.environ()
	cmd.Dir = RepoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	default:
		t.Fatalf("run %s: %v\n%s", filepath.Base(path), err, res)
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s timed out\n%s", filepath.Base(path), res)
	}
	return res
}

// Failure is a classified error in run JSON.
type Failure struct {
	Category    string `json:"category"`
	Code        string `json:"code,omitempty"`
	Message     string `json:"message"`
	Hint        string `json:"hint,omitempty"`
	Connector   string `json:"connector,omitempty"`
	Retryable   bool   `json:"retryable"`
	SafeToRetry bool   `json:"safe_to_retry"`
	CommitState string `json:"commit_state,omitempty"`
}

// StreamResult is one stream (partition) of a RunResult.
type StreamResult struct {
	Stream         string   `json:"stream"`
	Partition      uint32   `json:"partition"`
	State          string   `json:"state"`
	RecordsRead    uint64   `json:"records_read"`
	RecordsWritten uint64   `json:"records_written"`
	RecordsFailed  uint64   `json:"records_failed"`
	BytesRead      uint64   `json:"bytes_read"`
	BytesWritten   uint64   `json:"bytes_written"`
	DurationSecs   float64  `json:"duration_secs"`
	Attempts       uint32   `json:"attempts"`
	Error          *Failure `json:"error,omitempty"`
	// Lag is set on the change stream of a running follow run.
	Lag *Lag `json:"lag,omitempty"`
}

// Lag is how far a change stream's destination is behind its source.
type Lag struct {
	Bytes   uint64  `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// AttemptError is the failure of one earlier attempt of a run.
type AttemptError struct {
	Attempt uint32   `json:"attempt"`
	Error   *Failure `json:"error"`
}

// RunResult is the CLI's run summary JSON (`-o json` or @@BENCH_JSON@@).
type RunResult struct {
	RunID              string         `json:"run_id"`
	Pipeline           string         `json:"pipeline"`
	State              string         `json:"state"`
	RecordsRead        uint64         `json:"records_read"`
	RecordsWritten     uint64         `json:"records_written"`
	RecordsFailed      uint64         `json:"records_failed"`
	BytesRead          uint64         `json:"bytes_read"`
	BytesWritten       uint64         `json:"bytes_written"`
	DurationSecs       float64        `json:"duration_secs"`
	RecordsPerSec      float64        `json:"records_per_sec"`
	MBPerSec           float64        `json:"mb_per_sec"`
	RetryCount         uint32         `json:"retry_count"`
	Attempts           uint32         `json:"attempts"`
	SourceModuleLoadMs float64        `json:"source_module_load_ms"`
	DestModuleLoadMs   float64        `json:"dest_module_load_ms"`
	SourceDurationSecs float64        `json:"source_duration_secs"`
	DestDurationSecs   float64        `json:"dest_duration_secs"`
	PlanSecs           float64        `json:"plan_secs"`
	RetryWaitSecs      float64        `json:"retry_wait_secs"`
	Streams            []StreamResult `json:"streams"`
	Error              *Failure       `json:"error,omitempty"`
	AttemptErrors      []AttemptError `json:"attempt_errors,omitempty"`
	IdempotencyKey     string         `json:"idempotency_key,omitempty"`
	Follow             bool           `json:"follow,omitempty"`
	AlreadyExists      bool           `json:"already_exists,omitempty"`
	CreatedAt          *time.Time     `json:"created_at,omitempty"`
	FinishedAt         *time.Time     `json:"finished_at,omitempty"`
}

// Stream returns the first StreamResult named name (nil when absent).
func (r *RunResult) Stream(name string) *StreamResult {
	for i := range r.Streams {
		if r.Streams[i].Stream == name {
			return &r.Streams[i]
		}
	}
	return nil
}

// ParseRunResult parses CLI stdout: a JSON document (`-o json`), or text
// whose last @@BENCH_JSON@@ line holds the JSON.
func ParseRunResult(stdout string) (*RunResult, error) {
	raw, err := BenchJSON(stdout)
	if err != nil {
		return nil, err
	}
	var rr RunResult
	if err := json.Unmarshal([]byte(raw), &rr); err != nil {
		return nil, fmt.Errorf("decode run JSON %q: %w", abbrev(raw), err)
	}
	return &rr, nil
}

// BenchJSON returns the raw JSON of stdout: the whole output when it is a
// JSON document, else the payload of its last @@BENCH_JSON@@ line.
func BenchJSON(stdout string) (string, error) {
	trimmed := strings.TrimSpace(stdout)
	if strings.HasPrefix(trimmed, "{") && json.Valid([]byte(trimmed)) {
		return trimmed, nil
	}
	var last string
	found := false
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), BenchMarker); ok {
			last, found = rest, true
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("scan output: %w", err)
	}
	if !found {
		return "", fmt.Errorf("no %s line and no JSON document in output", BenchMarker)
	}
	return last, nil
}
