package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

const pipelineYAML = "version: \"1.0\"\npipeline: pg_to_pg\nsource:\n  use: source-postgres\n"

func succeededRun() *rapidbytev1.RunResult {
	return &rapidbytev1.RunResult{
		RunId: "run-1", Pipeline: "pg_to_pg", State: rapidbytev1.RunState_RUN_STATE_SUCCEEDED,
		RecordsRead: 3000, RecordsWritten: 3000, BytesRead: 3 * 1024 * 1024, BytesWritten: 3 * 1024 * 1024,
		DurationSecs: 1.5, RetryCount: 2, Attempts: 3,
		Timings: &rapidbytev1.PhaseTimings{SourceModuleLoadMs: 310, DestModuleLoadMs: 290, SourceDurationSecs: 1.1, DestDurationSecs: 1.2, PlanSecs: 0.01, RetryWaitSecs: 3},
		Streams: []*rapidbytev1.StreamResult{
			{Stream: "users", State: rapidbytev1.RunState_RUN_STATE_SUCCEEDED, RecordsRead: 1000, RecordsWritten: 1000, BytesRead: 1024 * 1024, BytesWritten: 1024 * 1024, DurationSecs: 0.5, Attempts: 1},
			{Stream: "orders", State: rapidbytev1.RunState_RUN_STATE_SUCCEEDED, RecordsRead: 2000, RecordsWritten: 2000, BytesRead: 2 * 1024 * 1024, BytesWritten: 2 * 1024 * 1024, DurationSecs: 1.0, Attempts: 3},
		},
		AttemptHistory: []*rapidbytev1.Attempt{
			{Number: 1, Error: &rapidbytev1.ConnectorError{Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, Code: "WORKER_LOST", Message: "worker 127.0.0.1:7071 went away", Retryable: true, SafeToRetry: true}},
			{Number: 2, Error: &rapidbytev1.ConnectorError{Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB, Code: "SERIALIZATION", Message: "could not serialize access", Retryable: true, SafeToRetry: true}},
			{Number: 3},
		},
		CreatedAt: timestamppb.Now(),
	}
}

func failedRun() *rapidbytev1.RunResult {
	return &rapidbytev1.RunResult{
		RunId: "run-2", Pipeline: "pg_to_pg", State: rapidbytev1.RunState_RUN_STATE_FAILED, Attempts: 1, DurationSecs: 0.2,
		Error: &rapidbytev1.ConnectorError{
			Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_AUTH, Code: "AUTH_FAILED", Connector: "source-postgres",
			Message: `password authentication failed for user "app"`, Hint: "check user and password in source.config",
		},
		Streams: []*rapidbytev1.StreamResult{{Stream: "users", State: rapidbytev1.RunState_RUN_STATE_FAILED, Attempts: 1}},
	}
}

// benchKeys are the keys every @@BENCH_JSON@@ payload must have.
var benchKeys = []string{
	"records_read", "records_written", "records_failed", "bytes_read", "bytes_written", "duration_secs", "retry_count", "attempts",
	"streams", "source_module_load_ms", "dest_module_load_ms", "source_duration_secs", "dest_duration_secs", "state", "run_id",
	"source_connect_secs", "source_query_secs", "source_fetch_secs", "dest_connect_secs", "dest_flush_secs", "dest_commit_secs",
}

var streamKeys = []string{"stream", "records_read", "records_written", "records_failed", "bytes_read", "bytes_written", "duration_secs", "attempts", "state"}

func decodeObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

func assertKeys(t *testing.T, m map[string]any, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks key %q: %v", k, m)
		}
	}
}

func TestRunTextSummary(t *testing.T) {
	f := &fakeCoordinator{run: succeededRun()}
	addr := serve(t, f, "")
	file := writePipeline(t, pipelineYAML)

	r := invoke(t, nil, "--coordinator", addr, "run", file, "--idempotency-key", "k1", "--var", "PG_PASSWORD=s3cret", "--var", "EMPTY=")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing when not a terminal", r.stderr)
	}
	out := lines(r.stdout)
	for _, want := range []string{
		"Pipeline 'pg_to_pg' completed successfully.",
		"  Records read:    3,000",
		"  Bytes written:   3.00 MB",
		"  Duration:        1.50s",
		"  Throughput:      2,000 rows/sec, 2.00 MB/s",
		"  Module load:     source 310 ms, destination 290 ms",
		"  Retries:         2",
		"    attempt 1: worker 127.0.0.1:7071 went away (transient_network/WORKER_LOST)",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("stdout lacks line %q:\n%s", want, r.stdout)
		}
	}
	if load, retries := strings.Index(r.stdout, "  Module load:"), strings.Index(r.stdout, "  Retries:"); load < 0 || retries < load {
		t.Errorf("Retries line not after the module-load line:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "    orders  2,000 read, 2,000 written, 2.00 MB, 1.00s, SUCCEEDED, 3 attempts\n") {
		t.Errorf("stdout lacks the orders stream line:\n%s", r.stdout)
	}
	last := out[len(out)-1]
	payload, ok := strings.CutPrefix(last, "@@BENCH_JSON@@")
	if !ok {
		t.Fatalf("last line %q is not the bench trailer", last)
	}
	m := decodeObject(t, payload)
	assertKeys(t, m, benchKeys)
	if m["retry_count"] != 2.0 || m["attempts"] != 3.0 || m["state"] != "SUCCEEDED" || m["run_id"] != "run-1" {
		t.Errorf("bench JSON = %v", m)
	}
	streams := m["streams"].([]any)
	if len(streams) != 2 {
		t.Fatalf("streams = %v", streams)
	}
	assertKeys(t, streams[0].(map[string]any), streamKeys)

	if len(f.submitted) != 1 {
		t.Fatalf("submitted %d runs", len(f.submitted))
	}
	got := f.submitted[0]
	if !got.GetWait() || got.GetIdempotencyKey() != "k1" || got.GetPipelineYaml() != pipelineYAML {
		t.Errorf("SubmitRun request = %v", got)
	}
	if diff := cmp.Diff(map[string]string{"PG_PASSWORD": "s3cret", "EMPTY": ""}, got.GetVariables()); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
}

func TestRunWhilePipelineActive(t *testing.T) {
	t.Run("rejected", func(t *testing.T) {
		f := &fakeCoordinator{run: succeededRun(), busy: 1}
		addr := serve(t, f, "")
		r := invoke(t, map[string]string{EnvCoordinator: addr}, "run", writePipeline(t, pipelineYAML))
		if r.code != 1 || !strings.Contains(r.stderr, "already has an active run run-0") || r.stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the active run named", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("wait", func(t *testing.T) {
		f := &fakeCoordinator{run: succeededRun(), busy: 2}
		addr := serve(t, f, "")
		r := invoke(t, map[string]string{EnvCoordinator: addr}, "run", "--wait", "-o", "json", writePipeline(t, pipelineYAML))
		if r.code != 0 || strings.Count(r.stderr, "waiting: ") != 1 || !strings.Contains(r.stderr, "run-0") {
			t.Fatalf("exit %d, stderr %q; want 0 after one waiting line", r.code, r.stderr)
		}
		if m := decodeObject(t, r.stdout); m["run_id"] != "run-1" {
			t.Errorf("run %v, want run-1", m["run_id"])
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.submitted) != 3 {
			t.Errorf("%d submissions, want 3 (two while busy)", len(f.submitted))
		}
	})
}

func TestRunJSONOnly(t *testing.T) {
	addr := serve(t, &fakeCoordinator{run: succeededRun()}, "")
	file := writePipeline(t, pipelineYAML)
	r := invoke(t, map[string]string{EnvCoordinator: addr}, "run", "-o", "json", file)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	out := lines(r.stdout)
	if len(out) != 1 {
		t.Fatalf("stdout has %d lines, want exactly the JSON:\n%s", len(out), r.stdout)
	}
	m := decodeObject(t, out[0])
	assertKeys(t, m, benchKeys)
	if _, ok := m["error"]; ok {
		t.Errorf("successful run has an error key: %v", m)
	}
}

func TestRunFailed(t *testing.T) {
	addr := serve(t, &fakeCoordinator{run: failedRun()}, "")
	file := writePipeline(t, pipelineYAML)
	wantErr := `error: run run-2 failed: source-postgres: password authentication failed for user "app" (auth/AUTH_FAILED); hint: check user and password in source.config`

	t.Run("json", func(t *testing.T) {
		r := invoke(t, nil, "--coordinator", addr, "-o", "json", "run", file)
		if r.code != ExitFailure {
			t.Errorf("exit %d, want %d", r.code, ExitFailure)
		}
		out := lines(r.stdout)
		if len(out) != 1 {
			t.Fatalf("stdout = %q, want one JSON line", r.stdout)
		}
		m := decodeObject(t, out[0])
		assertKeys(t, m, append(benchKeys, "error"))
		if m["state"] != "FAILED" || m["retry_count"] != 0.0 || m["attempts"] != 1.0 {
			t.Errorf("failed run JSON = %v", m)
		}
		want := map[string]any{
			"category": "auth", "code": "AUTH_FAILED", "message": `password authentication failed for user "app"`,
			"hint": "check user and password in source.config", "connector": "source-postgres", "retryable": false, "safe_to_retry": false,
		}
		if diff := cmp.Diff(want, m["error"]); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{wantErr}, lines(r.stderr)); diff != "" {
			t.Errorf("stderr (-want +got):\n%s", diff)
		}
	})
	t.Run("text, nothing moved", func(t *testing.T) {
		r := invoke(t, nil, "--coordinator", addr, "run", file)
		if r.code != ExitFailure {
			t.Errorf("exit %d, want %d", r.code, ExitFailure)
		}
		// A failed run prints its summary (attempts, no Retries line
		// without retries) before the error.
		out := lines(r.stdout)
		if len(out) < 2 || out[0] != "Pipeline 'pg_to_pg' failed after 1 attempt(s)." ||
			strings.Contains(r.stdout, "Retries:") || !strings.HasPrefix(out[len(out)-1], "@@BENCH_JSON@@{") {
			t.Errorf("stdout = %q, want the failed run's summary", r.stdout)
		}
		if diff := cmp.Diff([]string{wantErr}, lines(r.stderr)); diff != "" {
			t.Errorf("stderr (-want +got):\n%s", diff)
		}
	})
	t.Run("text, partly moved", func(t *testing.T) {
		run := failedRun()
		run.RecordsRead, run.RecordsWritten, run.Attempts, run.RetryCount = 100, 50, 2, 1
		run.Error = &rapidbytev1.ConnectorError{Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_DATA, Code: "22P02",
			Connector: "dest-postgres", Message: `invalid input syntax for type integer: "x"`}
		addr := serve(t, &fakeCoordinator{run: run}, "")
		r := invoke(t, nil, "--coordinator", addr, "run", file)
		if r.code != ExitFailure {
			t.Errorf("exit %d, want %d", r.code, ExitFailure)
		}
		if !strings.HasPrefix(r.stdout, "Pipeline 'pg_to_pg' failed after 2 attempt(s).\n") || !strings.Contains(r.stdout, "\n  Retries:         1\n") {
			t.Errorf("stdout = %q", r.stdout)
		}
		out := lines(r.stdout)
		if !strings.HasPrefix(out[len(out)-1], "@@BENCH_JSON@@{") {
			t.Errorf("last stdout line = %q, want the bench trailer", out[len(out)-1])
		}
		want := `error: run run-2 failed: dest-postgres: invalid input syntax for type integer: "x" (data/22P02)`
		if diff := cmp.Diff([]string{want}, lines(r.stderr)); diff != "" {
			t.Errorf("stderr (-want +got):\n%s", diff)
		}
	})
}

func TestRunLiveProgress(t *testing.T) {
	f := &fakeCoordinator{run: succeededRun(), events: []*rapidbytev1.WatchRunResponse{
		{State: rapidbytev1.RunState_RUN_STATE_RUNNING, Attempt: 1, Message: "running 2 streams", Streams: []*rapidbytev1.StreamProgress{
			{Stream: "users", RecordsRead: 500, BytesRead: 1 << 20, RecordsWritten: 400, State: rapidbytev1.RunState_RUN_STATE_RUNNING},
		}},
	}}
	addr := serve(t, f, "")
	file := writePipeline(t, pipelineYAML)
	r := invokeWith(t, nil, true, nil, "--coordinator", addr, "run", file)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if f.submitted[0].GetWait() {
		t.Error("live run submitted with wait; want wait=false and WatchRun")
	}
	for _, want := range []string{"RUNNING (attempt 1): running 2 streams", "users", "500 read", "400 written", "MB/s", "\x1b[2K"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "  Retries:         2\n") || !strings.Contains(r.stdout, "@@BENCH_JSON@@{") {
		t.Errorf("stdout lacks the summary:\n%s", r.stdout)
	}
}

func TestRunDetach(t *testing.T) {
	f := &fakeCoordinator{run: succeededRun()}
	addr := serve(t, f, "")
	file := writePipeline(t, pipelineYAML)
	r := invoke(t, nil, "--coordinator", addr, "-o", "json", "run", "--detach", file)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if diff := cmp.Diff(`{"run_id":"run-1","already_exists":false,"state":"PENDING"}`+"\n", r.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if f.submitted[0].GetWait() {
		t.Error("detached run submitted with wait")
	}
}
