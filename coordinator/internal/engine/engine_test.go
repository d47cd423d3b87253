package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry/retrytest"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

type stream struct{ name, extra string }

func pipelineYAML(maxRetries int, streams ...stream) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: \"1.0\"\npipeline: p1\nsource:\n  use: source-x\n  config: {host: db, password: ${PW}}\n  streams:\n")
	for _, s := range streams {
		fmt.Fprintf(&b, "    - {name: %s%s}\n", s.name, s.extra)
	}
	fmt.Fprintf(&b, "destination:\n  use: dest-y\n  config: {host: db2, password: hunter2}\n  write_mode: append\n")
	fmt.Fprintf(&b, "resources: {max_retries: %d, parallelism: 3}\n", maxRetries)
	return b.String()
}

type harness struct {
	e     *Engine
	st    *memStore
	rl    *fakeRelay
	clock *retrytest.Clock
	ctx   context.Context
}

func newHarness(t *testing.T, fn func(ctx context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error)) *harness {
	t.Helper()
	h := &harness{st: newMemStore(), rl: &fakeRelay{fn: fn}, clock: retrytest.NewClock(time.Unix(1000, 0))}
	env := func(name string) (string, bool) {
		if name == "PW" {
			return "s3cret", true
		}
		return "", false
	}
	h.e = New(h.st, h.rl, Config{Clock: h.clock, Jitter: -1, Env: env, Owner: "me", CancelPoll: 20 * time.Millisecond}, hclog.NewNullLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	h.ctx = ctx
	done := make(chan struct{})
	go func() { _ = h.e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-h.e.Ready()
	return h
}

func (h *harness) submitWait(t *testing.T, yaml string) RunView {
	t.Helper()
	run, _, err := h.e.Submit(h.ctx, Submission{YAML: yaml})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if _, err := h.e.Wait(h.ctx, run.ID); err != nil {
		t.Fatalf("wait: %v", err)
	}
	v, err := h.e.Get(h.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// advanceWhileSleeping advances the fake clock whenever the engine sleeps,
// until stop is closed.
func (h *harness) advanceWhileSleeping(stop <-chan struct{}) {
	go func() {
		for {
			ctx, cancel := context.WithTimeout(h.ctx, 20*time.Millisecond)
			err := h.clock.BlockUntil(ctx, 1)
			cancel()
			if err == nil {
				h.clock.Advance(time.Hour)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
}

func transient(msg string) error {
	return runerr.New(runerr.CategoryTransientNetwork, "WORKER_LOST", "%s", msg)
}

func TestRunSucceeds(t *testing.T) {
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, progress func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 100, progress), nil
	})
	v := h.submitWait(t, pipelineYAML(3, stream{name: "a"}, stream{name: "b"}))
	r := v.Run
	if r.State != store.StateSucceeded || r.Attempts != 1 || r.RetryCount() != 0 {
		t.Fatalf("run = %s attempts %d, want SUCCEEDED after 1", r.State, r.Attempts)
	}
	if r.RecordsRead != 200 || r.RecordsWritten != 200 || r.BytesWritten != 2000 {
		t.Errorf("totals read/written/bytes = %d/%d/%d", r.RecordsRead, r.RecordsWritten, r.BytesWritten)
	}
	if r.Timings.SourceModuleLoadMs != 5 || r.Timings.DestModuleLoadMs != 6 {
		t.Errorf("timings = %+v", r.Timings)
	}
	if len(v.Streams) != 2 || v.Streams[0].SourceWorker != "w1:1" || v.Streams[1].State != store.StateSucceeded {
		t.Errorf("streams = %+v", v.Streams)
	}
	if strings.Contains(r.PipelineYAML, "hunter2") || !strings.Contains(r.PipelineYAML, "${PW}") {
		t.Errorf("stored YAML leaks or lost references:\n%s", r.PipelineYAML)
	}
	// Secrets are resolved into the job only.
	jobs := h.rl.callsFor("a")
	if got := jobs[0].SourceConfig["password"]; got != "s3cret" {
		t.Errorf("resolved source password = %v", got)
	}
	// full_refresh streams never store cursors.
	if len(h.st.puts) != 0 {
		t.Errorf("cursors stored for full_refresh streams: %v", h.st.puts)
	}
}

func TestRetriesOnlyFailedStreamsAndResumes(t *testing.T) {
	acked := &store.Checkpoint{ID: 3, Stream: "b", Records: 40, Bytes: 400, CursorField: "id", CursorValue: store.IntCursor(40)}
	h := newHarness(t, func(_ context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error) {
		if job.Stream.Name == "b" && n == 1 {
			p := relay.Progress{RecordsRead: 50, RecordsWritten: 40, Checkpoint: acked, SourceWorker: "w1:1", DestWorker: "w2:1"}
			progress(p)
			return relay.Result{Progress: p}, transient("worker w2:1 lost")
		}
		return okResult(job, 60, progress), nil
	})
	stop := make(chan struct{})
	defer close(stop)
	h.advanceWhileSleeping(stop)
	v := h.submitWait(t, pipelineYAML(3, stream{name: "a"}, stream{name: "b", extra: ", sync_mode: incremental, cursor_field: id"}))
	r := v.Run
	if r.State != store.StateSucceeded || r.Attempts != 2 || r.RetryCount() != 1 {
		t.Fatalf("run = %s attempts %d err %v, want SUCCEEDED after 2", r.State, r.Attempts, r.Error)
	}
	if a := h.rl.callsFor("a"); len(a) != 1 {
		t.Errorf("stream a relayed %d times, want 1 (only failed streams retry)", len(a))
	}
	b := h.rl.callsFor("b")
	if len(b) != 2 {
		t.Fatalf("stream b relayed %d times, want 2", len(b))
	}
	if diff := cmp.Diff(acked, b[1].Resume); diff != "" {
		t.Errorf("retry resume checkpoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"w1:1", "w2:1"}, b[1].Avoid); diff != "" {
		t.Errorf("retry avoid (-want +got):\n%s", diff)
	}
	if b[1].Attempt != 2 {
		t.Errorf("retry attempt = %d", b[1].Attempt)
	}
	if len(v.Attempts) != 2 || v.Attempts[0].Error == nil || v.Attempts[0].Error.Code != "WORKER_LOST" || v.Attempts[1].Error != nil {
		t.Errorf("attempts = %+v", v.Attempts)
	}
	if diff := cmp.Diff([]string{"b"}, v.Attempts[1].Streams); diff != "" {
		t.Errorf("second attempt streams (-want +got):\n%s", diff)
	}
	// b committed 40 before the failure and 60 after resuming.
	if r.RecordsWritten != 60+100 {
		t.Errorf("records written = %d, want 160", r.RecordsWritten)
	}
	// The cursor was stored after each ack, the last one from attempt 2.
	if len(h.st.puts) != 2 || h.st.puts[0].ID != 3 {
		t.Errorf("cursor puts = %+v", h.st.puts)
	}
	if r.Timings.RetryWaitSecs <= 0 {
		t.Errorf("retry wait = %v, want > 0", r.Timings.RetryWaitSecs)
	}
}

func TestRunFails(t *testing.T) {
	tests := []struct {
		name         string
		maxRetries   int
		err          error
		wantAttempts int
		wantCode     string
	}{
		{name: "config error is not retried", maxRetries: 3, err: runerr.New(runerr.CategoryConfig, "BAD", "bad config"), wantAttempts: 1, wantCode: "BAD"},
		{name: "unsafe commit is not retried", maxRetries: 3, err: &runerr.ConnectorError{Category: runerr.CategoryTransientDB, Code: "COMMIT_FAILED", Retryable: true, SafeToRetry: true, CommitState: runerr.CommitAfterUnknown}, wantAttempts: 1, wantCode: "COMMIT_FAILED"},
		{name: "retries exhausted", maxRetries: 2, err: transient("gone"), wantAttempts: 3, wantCode: "WORKER_LOST"},
		{name: "plain error is internal", maxRetries: 2, err: errors.New("boom"), wantAttempts: 1, wantCode: "INTERNAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(context.Context, relay.Job, int, func(relay.Progress)) (relay.Result, error) {
				return relay.Result{}, tc.err
			})
			stop := make(chan struct{})
			defer close(stop)
			h.advanceWhileSleeping(stop)
			v := h.submitWait(t, pipelineYAML(tc.maxRetries, stream{name: "a"}))
			r := v.Run
			if r.State != store.StateFailed || r.Attempts != tc.wantAttempts || r.Error == nil || r.Error.Code != tc.wantCode {
				t.Errorf("run = %s attempts %d error %v, want FAILED after %d with %s", r.State, r.Attempts, r.Error, tc.wantAttempts, tc.wantCode)
			}
			if len(v.Attempts) != tc.wantAttempts {
				t.Errorf("%d attempts recorded", len(v.Attempts))
			}
			for _, a := range v.Attempts {
				if a.Error == nil || a.FinishedAt.IsZero() {
					t.Errorf("attempt %d not recorded with its error: %+v", a.Number, a)
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Run("during streaming", func(t *testing.T) {
		started := make(chan struct{})
		h := newHarness(t, func(ctx context.Context, _ relay.Job, _ int, _ func(relay.Progress)) (relay.Result, error) {
			close(started)
			<-ctx.Done()
			return relay.Result{}, &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED"}
		})
		run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(3, stream{name: "a"})})
		if err != nil {
			t.Fatal(err)
		}
		<-started
		if _, ok, err := h.e.Cancel(h.ctx, run.ID); err != nil || !ok {
			t.Fatalf("cancel = %v, %v", ok, err)
		}
		got, err := h.e.Wait(h.ctx, run.ID)
		if err != nil || got.State != store.StateCancelled {
			t.Fatalf("run = %s, %v; want CANCELLED", got.State, err)
		}
		if _, ok, _ := h.e.Cancel(h.ctx, run.ID); ok {
			t.Error("cancelling a finished run was accepted")
		}
	})
	t.Run("requested through another coordinator", func(t *testing.T) {
		started := make(chan struct{})
		h := newHarness(t, func(ctx context.Context, _ relay.Job, _ int, _ func(relay.Progress)) (relay.Result, error) {
			close(started)
			<-ctx.Done()
			return relay.Result{}, &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED"}
		})
		run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(3, stream{name: "a"})})
		if err != nil {
			t.Fatal(err)
		}
		<-started
		if _, _, err := h.st.RequestCancel(h.ctx, run.ID); err != nil { // straight to the shared store
			t.Fatal(err)
		}
		got, err := h.e.Wait(h.ctx, run.ID)
		if err != nil || got.State != store.StateCancelled {
			t.Fatalf("run = %s, %v; want CANCELLED", got.State, err)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		h := newHarness(t, func(context.Context, relay.Job, int, func(relay.Progress)) (relay.Result, error) {
			return relay.Result{}, transient("gone")
		})
		run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(3, stream{name: "a"})})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.clock.BlockUntil(h.ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.e.Cancel(h.ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		got, err := h.e.Wait(h.ctx, run.ID)
		if err != nil || got.State != store.StateCancelled || got.Attempts != 1 {
			t.Fatalf("run = %s after %d attempts, %v; want CANCELLED after 1", got.State, got.Attempts, err)
		}
	})
}

func TestIdempotentSubmit(t *testing.T) {
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 1, p), nil
	})
	y := pipelineYAML(0, stream{name: "a"})
	r1, existed1, err := h.e.Submit(h.ctx, Submission{YAML: y, IdempotencyKey: "k"})
	if err != nil || existed1 {
		t.Fatalf("first submit = %v, %v", existed1, err)
	}
	r2, existed2, err := h.e.Submit(h.ctx, Submission{YAML: y, IdempotencyKey: "k"})
	if err != nil || !existed2 || r2.ID != r1.ID {
		t.Fatalf("second submit = %s %v %v, want %s existing", r2.ID, existed2, err, r1.ID)
	}
	if _, err := h.e.Wait(h.ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(h.rl.callsFor("a")); n != 1 {
		t.Errorf("relayed %d times, want 1", n)
	}
}

func TestIncrementalResumesFromStoredCursor(t *testing.T) {
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 10, p), nil
	})
	y := pipelineYAML(0, stream{name: "a", extra: ", sync_mode: incremental, cursor_field: id"})
	h.submitWait(t, y)
	h.submitWait(t, y)
	jobs := h.rl.callsFor("a")
	if len(jobs) != 2 || jobs[0].Resume != nil || jobs[1].Resume == nil || jobs[1].Resume.CursorValue != store.IntCursor(10) {
		t.Errorf("resume points = %v then %v, want none then cursor 10", jobs[0].Resume, jobs[1].Resume)
	}
}

func TestPartitions(t *testing.T) {
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 5, p), nil
	})
	v := h.submitWait(t, pipelineYAML(0, stream{name: "big", extra: ", partition_key: id"}))
	jobs := h.rl.callsFor("big")
	if len(jobs) != 3 {
		t.Fatalf("%d partitions relayed, want 3 (parallelism)", len(jobs))
	}
	seen := map[int]bool{}
	for _, j := range jobs {
		if j.PartitionCount != 3 {
			t.Errorf("partition count = %d", j.PartitionCount)
		}
		seen[j.PartitionIndex] = true
	}
	if len(seen) != 3 || len(v.Streams) != 3 || v.Run.RecordsWritten != 15 {
		t.Errorf("partitions %v, results %d, written %d", seen, len(v.Streams), v.Run.RecordsWritten)
	}
}

// TestEarlyShutdownLogsNoError stops the engine before its startup recovery
// could read the store: a normal early exit (the CLI rejecting a pipeline
// right after starting the embedded coordinator) must log no ERROR.
func TestEarlyShutdownLogsNoError(t *testing.T) {
	st := newMemStore()
	if _, _, err := st.CreateRun(context.Background(), store.Run{Pipeline: "p1", State: store.StateRunning, Owner: "me"}); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
	e := New(st, &fakeRelay{}, Config{Owner: "me"}, log)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if strings.Contains(logs.String(), "[ERROR]") {
		t.Errorf("early shutdown logged an error:\n%s", logs.String())
	}
}

func TestWatchPublishesEvents(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		<-release
		return okResult(job, 7, p), nil
	})
	run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(0, stream{name: "a"})})
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := h.e.Watch(run.ID)
	defer stop()
	close(release)
	var last Event
	n := 0
	for ev := range ch {
		last = ev
		n++
	}
	if n == 0 || last.State != store.StateSucceeded || len(last.Streams) != 1 || last.Streams[0].RecordsWritten != 7 {
		t.Errorf("got %d events, last %+v", n, last)
	}
}

func TestShutdownFailsActiveRuns(t *testing.T) {
	st := newMemStore()
	started := make(chan struct{})
	rl := &fakeRelay{fn: func(ctx context.Context, _ relay.Job, _ int, _ func(relay.Progress)) (relay.Result, error) {
		close(started)
		<-ctx.Done()
		return relay.Result{}, &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED"}
	}}
	env := func(string) (string, bool) { return "x", true }
	e := New(st, rl, Config{Owner: "me", Env: env}, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	<-e.Ready()
	run, _, err := e.Submit(ctx, Submission{YAML: pipelineYAML(0, stream{name: "a"})})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	<-done
	got, _ := st.GetRun(context.Background(), run.ID)
	if got.State != store.StateFailed || got.Error == nil || got.Error.Code != "COORDINATOR_SHUTDOWN" {
		t.Errorf("run = %s %v, want FAILED COORDINATOR_SHUTDOWN", got.State, got.Error)
	}
	if _, _, err := e.Submit(context.Background(), Submission{YAML: pipelineYAML(0, stream{name: "a"})}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("submit after shutdown = %v, want ErrNotRunning", err)
	}
}

// TestResumeAheadRedispatches: a destination that holds rows past the
// stored cursor acknowledges that position and refuses the write; the
// stream is re-dispatched at once from the acknowledged position (no
// failed attempt), which also becomes the stream's cursor.
func TestResumeAheadRedispatches(t *testing.T) {
	h := newHarness(t, func(_ context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error) {
		if n == 1 {
			cp := &store.Checkpoint{Stream: job.Stream.Name, CursorField: "id", CursorValue: store.IntCursor(700), Records: 700}
			p := relay.Progress{Checkpoint: cp}
			progress(p)
			return relay.Result{Progress: p}, runerr.New(runerr.CategoryTransientDB, runerr.CodeResumeAhead, "destination already holds rows up to id 700")
		}
		return okResult(job, 1000, progress), nil
	})
	v := h.submitWait(t, pipelineYAML(0, stream{name: "a", extra: ", sync_mode: incremental, cursor_field: id"}))
	if v.Run.State != store.StateSucceeded || v.Run.Attempts != 1 {
		t.Fatalf("run = %s after %d attempts (%v), want SUCCEEDED after 1", v.Run.State, v.Run.Attempts, v.Run.Error)
	}
	calls := h.rl.callsFor("a")
	if len(calls) != 2 || calls[0].Resume != nil || calls[1].Resume == nil || calls[1].Resume.CursorValue != store.IntCursor(700) {
		t.Fatalf("relay calls = %+v, want a second one resuming after id 700", calls)
	}
	if len(h.st.puts) == 0 || h.st.puts[0].CursorValue != store.IntCursor(700) {
		t.Errorf("cursor writes = %+v, want the acknowledged position first", h.st.puts)
	}
}

// checkpointed relays n records of job's stream, each acknowledged with its
// own checkpoint (cursor id = the record number), and returns the result.
func checkpointed(job relay.Job, n uint64, progress func(relay.Progress)) relay.Result {
	var p relay.Progress
	for i := uint64(1); i <= n; i++ {
		cp := &store.Checkpoint{Stream: job.Stream.Name, Records: i, CursorField: "id", CursorValue: store.IntCursor(int64(i))}
		p = relay.Progress{RecordsRead: i, RecordsWritten: i, Checkpoint: cp}
		progress(p)
	}
	return relay.Result{Progress: p, Final: true}
}

// TestCursorWriteRetriedWithNextCheckpoint: a cursor write that fails is
// tried again with the next acknowledged checkpoint, which supersedes it,
// so a passing state store failure does not fail the stream (nor, in a
// follow run, stop confirming its slot for good); a stream whose last
// checkpoint is not saved fails.
func TestCursorWriteRetriedWithNextCheckpoint(t *testing.T) {
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, progress func(relay.Progress)) (relay.Result, error) {
		return checkpointed(job, 3, progress), nil
	})
	y := pipelineYAML(0, stream{name: "a", extra: ", sync_mode: incremental, cursor_field: id"})
	h.st.mu.Lock()
	h.st.failPuts = 1
	h.st.mu.Unlock()
	if v := h.submitWait(t, y); v.Run.State != store.StateSucceeded {
		t.Fatalf("run after a failed cursor write: %s (%v), want SUCCEEDED", v.Run.State, v.Run.Error)
	}
	cp, err := h.st.GetCursor(h.ctx, "p1", "a", 0)
	if err != nil || cp.CursorValue != store.IntCursor(3) {
		t.Fatalf("cursor = %v (%v), want the last checkpoint 3", cp, err)
	}
	h.st.mu.Lock()
	h.st.failPuts = 3
	h.st.mu.Unlock()
	v := h.submitWait(t, y)
	if v.Run.State != store.StateFailed || v.Run.Error == nil || v.Run.Error.Code != "STATE_STORE" {
		t.Fatalf("run whose last cursor write failed: %s (%v), want FAILED with STATE_STORE", v.Run.State, v.Run.Error)
	}
}

// TestCursorWriteFailureIsReported: a failed cursor write is reported once
// per streak as a run event (a silent failure would leave a follow run's
// slot unconfirmed, holding WAL, with nothing said), and so is the write
// that ends the streak.
func TestCursorWriteFailureIsReported(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(_ context.Context, job relay.Job, _ int, progress func(relay.Progress)) (relay.Result, error) {
		<-release
		return checkpointed(job, 4, progress), nil
	})
	h.st.mu.Lock()
	h.st.failPuts = 2
	h.st.mu.Unlock()
	run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(0, stream{name: "a", extra: ", sync_mode: incremental, cursor_field: id"})})
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := h.e.Watch(run.ID)
	defer stop()
	close(release)
	var failed, recovered int
	var last Event
	for ev := range ch {
		last = ev
		switch {
		case strings.Contains(ev.Message, "save cursor failed"):
			failed++
		case strings.Contains(ev.Message, "cursor saved again after 2 failed writes"):
			recovered++
		}
	}
	if failed != 1 || recovered != 1 || last.State != store.StateSucceeded {
		t.Errorf("events: %d failure reports, %d recovery reports (want 1 and 1), final state %s", failed, recovered, last.State)
	}
}
