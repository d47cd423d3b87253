package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/seal"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// envPW resolves ${PW}.
func envPW(name string) (string, bool) { return "s3cret", name == "PW" }

// resumableYAML is a pipeline with no literal secret, so any coordinator
// with PW in its environment can resume it.
const resumableYAML = "version: \"1.0\"\npipeline: p1\nsource:\n  use: source-x\n  config: {host: db, password: ${PW}}\n  streams:\n" +
	"    - {name: a}\n    - {name: b}\ndestination:\n  use: dest-y\n  config: {host: db2}\n  write_mode: append\nresources: {max_retries: 3}\n"

// startEngine runs an engine until the test ends.
func startEngine(t *testing.T, st *memStore, rl *fakeRelay, cfg Config) *Engine {
	t.Helper()
	if cfg.Env == nil {
		cfg.Env = envPW
	}
	cfg.Jitter = -1
	e := New(st, rl, cfg, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-e.Ready()
	return e
}

func waitFinal(t *testing.T, e *Engine, id string) RunView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Wait(ctx, id); err != nil {
		t.Fatalf("wait for run %s: %v", id, err)
	}
	v, err := e.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSecondSubmitRejectedWhileActive(t *testing.T) {
	release := make(chan struct{})
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		<-release
		return okResult(job, 1, p), nil
	}}
	st := newMemStore()
	e := startEngine(t, st, rl, Config{Owner: "me"})
	ctx := context.Background()
	first, _, err := e.Submit(ctx, Submission{YAML: resumableYAML, IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Submit(ctx, Submission{YAML: resumableYAML})
	active, ok := errors.AsType[*ActiveRunError](err)
	if !ok || active.RunID != first.ID || active.Owner != "me" || !strings.Contains(err.Error(), first.ID) {
		t.Fatalf("second submit = %v, want an ActiveRunError naming run %s", err, first.ID)
	}
	// The same idempotency key still returns the active run.
	if again, existed, err := e.Submit(ctx, Submission{YAML: resumableYAML, IdempotencyKey: "k"}); err != nil || !existed || again.ID != first.ID {
		t.Errorf("resubmit with the key = %s, %v, %v; want run %s existed", again.ID, existed, err, first.ID)
	}
	close(release)
	if v := waitFinal(t, e, first.ID); v.Run.State != store.StateSucceeded {
		t.Fatalf("first run %s", v.Run.State)
	}
	if _, err := st.GetLease(ctx, "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after the run = %v, want released", err)
	}
	next, _, err := e.Submit(ctx, Submission{YAML: resumableYAML})
	if err != nil {
		t.Fatalf("submit after the first finished: %v", err)
	}
	waitFinal(t, e, next.ID)
}

// seedOrphan stores a RUNNING run of resumableYAML left by coordinator
// "dead" in attempt 1: stream a finished, stream b acknowledged 40 records,
// with its lease expiring at expires.
func seedOrphan(t *testing.T, st *memStore, expires time.Time, blocker string) store.Run {
	t.Helper()
	ctx := context.Background()
	r, _, err := st.CreateRun(ctx, store.Run{ID: "orphan", Pipeline: "p1", State: store.StateRunning, PipelineYAML: resumableYAML,
		Owner: "dead", Attempts: 1, StartedAt: time.Now().Add(-time.Minute), ResumeBlocker: blocker})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.AddAttempt(ctx, store.Attempt{RunID: r.ID, Number: 1, StartedAt: r.StartedAt, Streams: []string{"a", "b"}})
	_ = st.PutStreamResult(ctx, store.StreamResult{RunID: r.ID, Stream: "a", State: store.StateSucceeded, RecordsRead: 7, RecordsWritten: 7, Attempts: 1})
	cp := &store.Checkpoint{ID: 3, Stream: "b", Records: 40, Bytes: 400}
	_ = st.PutStreamResult(ctx, store.StreamResult{RunID: r.ID, Stream: "b", State: store.StateRunning, RecordsRead: 50, RecordsWritten: 40, BytesWritten: 400, Attempts: 1, Checkpoint: cp})
	_, _, _ = st.AcquireLease(ctx, store.Lease{Pipeline: "p1", RunID: r.ID, Owner: "dead", ExpiresAt: expires}, time.Now())
	return r
}

func TestTakeOverResumesAfterLeaseExpiry(t *testing.T) {
	var mu sync.Mutex
	var jobs []relay.Job
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		mu.Lock()
		jobs = append(jobs, job)
		mu.Unlock()
		return okResult(job, 60, p), nil
	}}
	st := newMemStore()
	ttl := 300 * time.Millisecond
	expires := time.Now().Add(ttl)
	orphan := seedOrphan(t, st, expires, "")
	e := startEngine(t, st, rl, Config{Owner: "me", Failover: true, LeaseTTL: ttl})

	// No steal before expiry.
	if r, _ := st.GetRun(context.Background(), orphan.ID); time.Now().Before(expires) && r.Owner != "dead" {
		t.Fatalf("run taken over before its lease expired (owner %s)", r.Owner)
	}
	v := waitFinal(t, e, orphan.ID)
	if v.Run.State != store.StateSucceeded || v.Run.Attempts != 2 || v.Run.RetryCount() != 1 || v.Run.Owner != "me" {
		t.Fatalf("run = %s attempts %d owner %s, want SUCCEEDED after attempt 2 by me", v.Run.State, v.Run.Attempts, v.Run.Owner)
	}
	if len(v.Attempts) != 2 || v.Attempts[0].Error == nil || v.Attempts[0].Error.Code != "COORDINATOR_TAKEOVER" ||
		!strings.Contains(v.Attempts[0].Error.Message, "dead") || v.Attempts[1].Error != nil {
		t.Errorf("attempts = %+v, want attempt 1 ended by COORDINATOR_TAKEOVER from dead, attempt 2 ok", v.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jobs) != 1 || jobs[0].Stream.Name != "b" || jobs[0].Attempt != 2 || jobs[0].Resume == nil || jobs[0].Resume.Records != 40 {
		t.Fatalf("relayed %+v, want only stream b, attempt 2, resumed at its acknowledged checkpoint", jobs)
	}
	for _, sr := range v.Streams {
		want := map[string]uint64{"a": 7, "b": 40 + 60}[sr.Stream]
		if sr.RecordsWritten != want || sr.State != store.StateSucceeded {
			t.Errorf("stream %s: %s %d written, want SUCCEEDED %d", sr.Stream, sr.State, sr.RecordsWritten, want)
		}
	}
	if v.Run.RecordsWritten != 107 {
		t.Errorf("run records written %d, want 107", v.Run.RecordsWritten)
	}
}

func TestTakeOverFailsRunThatCannotResume(t *testing.T) {
	st := newMemStore()
	orphan := seedOrphan(t, st, time.Now().Add(-time.Second), "it was submitted with --var values (PW)")
	e := startEngine(t, st, &fakeRelay{}, Config{Owner: "me", Failover: true, LeaseTTL: 300 * time.Millisecond})
	v := waitFinal(t, e, orphan.ID)
	if v.Run.State != store.StateFailed || v.Run.Error == nil || v.Run.Error.Code != "RESUME_FAILED" || !strings.Contains(v.Run.Error.Message, "--var values (PW)") {
		t.Fatalf("run = %s %+v, want FAILED RESUME_FAILED saying why", v.Run.State, v.Run.Error)
	}
	if _, err := st.GetLease(context.Background(), "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease = %v, want released", err)
	}
}

func TestSubmitSupersedesExpiredRun(t *testing.T) {
	st := newMemStore()
	orphan := seedOrphan(t, st, time.Now().Add(-time.Second), "")
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 1, p), nil
	}}
	e := startEngine(t, st, rl, Config{Owner: "me"}) // embedded: no failover
	run, _, err := e.Submit(context.Background(), Submission{YAML: resumableYAML})
	if err != nil {
		t.Fatal(err)
	}
	waitFinal(t, e, run.ID)
	old, _ := st.GetRun(context.Background(), orphan.ID)
	if old.State != store.StateFailed || old.Error == nil || old.Error.Code != "RUN_SUPERSEDED" || !strings.Contains(old.Error.Message, run.ID) {
		t.Errorf("old run = %s %+v, want FAILED RUN_SUPERSEDED naming %s", old.State, old.Error, run.ID)
	}
}

func TestLeaseLostStopsRunQuietly(t *testing.T) {
	started := make(chan struct{})
	stopped := make(chan struct{})
	rl := &fakeRelay{fn: func(ctx context.Context, _ relay.Job, _ int, _ func(relay.Progress)) (relay.Result, error) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return relay.Result{}, &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED"}
	}}
	st := newMemStore()
	e := startEngine(t, st, rl, Config{Owner: "me", LeaseTTL: 300 * time.Millisecond})
	ctx := context.Background()
	yaml := strings.Replace(resumableYAML, "    - {name: b}\n", "", 1)
	run, _, err := e.Submit(ctx, Submission{YAML: yaml})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	// Another coordinator takes the lease (as after a pause longer than the TTL).
	st.mu.Lock()
	st.leases["p1"] = store.Lease{Pipeline: "p1", RunID: run.ID, Owner: "other", ExpiresAt: time.Now().Add(time.Hour)}
	st.mu.Unlock()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the run kept going after its lease was taken")
	}
	time.Sleep(100 * time.Millisecond)
	if r, _ := st.GetRun(ctx, run.ID); r.State != store.StateRunning {
		t.Errorf("run = %s, want RUNNING: the new owner records its end", r.State)
	}
	if l, _ := st.GetLease(ctx, "p1"); l.Owner != "other" {
		t.Errorf("lease owner %q, want other", l.Owner)
	}
}

func TestFailoverShutdownHandsRunOff(t *testing.T) {
	started := make(chan struct{})
	rl := &fakeRelay{fn: func(ctx context.Context, _ relay.Job, _ int, _ func(relay.Progress)) (relay.Result, error) {
		close(started)
		<-ctx.Done()
		return relay.Result{}, &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED"}
	}}
	st := newMemStore()
	e := New(st, rl, Config{Owner: "me", Env: envPW, Failover: true}, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	<-e.Ready()
	yaml := strings.Replace(resumableYAML, "    - {name: b}\n", "", 1)
	run, _, err := e.Submit(ctx, Submission{YAML: yaml})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	<-done
	bg := context.Background()
	got, _ := st.GetRun(bg, run.ID)
	if got.State != store.StateRunning || got.Error != nil {
		t.Errorf("run = %s %+v, want RUNNING for another coordinator", got.State, got.Error)
	}
	if l, err := st.GetLease(bg, "p1"); err != nil || !l.Expired(time.Now()) {
		t.Errorf("lease = %+v, %v; want expired, for the next takeover scan", l, err)
	}
	if a, _ := st.ListAttempts(bg, run.ID); len(a) != 1 || a[0].Error == nil || a[0].Error.Code != "COORDINATOR_SHUTDOWN" {
		t.Errorf("attempts = %+v, want attempt 1 ended COORDINATOR_SHUTDOWN", a)
	}
}

func TestTakeOverResolvesSealedVariables(t *testing.T) {
	box, err := seal.New("engine-test-state-key")
	if err != nil {
		t.Fatal(err)
	}
	submitter := New(newMemStore(), &fakeRelay{}, Config{Owner: "dead", Sealer: box}, hclog.NewNullLogger())
	st := newMemStore()
	orphan := seedOrphan(t, st, time.Now().Add(-time.Second), "")
	st.mu.Lock()
	r := st.runs[orphan.ID]
	if err := submitter.attachResumeData(&r, Submission{YAML: resumableYAML, Variables: map[string]string{"PW": "from-var"}}, false); err != nil {
		st.mu.Unlock()
		t.Fatal(err)
	}
	st.runs[orphan.ID] = r
	st.mu.Unlock()
	if r.ResumeBlocker != "" || len(r.ResumeData) == 0 || strings.Contains(string(r.ResumeData), "from-var") {
		t.Fatalf("resume data %q blocker %q: want sealed values", r.ResumeData, r.ResumeBlocker)
	}

	var mu sync.Mutex
	var password any
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		mu.Lock()
		password = job.SourceConfig["password"]
		mu.Unlock()
		return okResult(job, 1, p), nil
	}}
	// Without the key the run cannot resume, and says why.
	noKey := startEngine(t, st, &fakeRelay{}, Config{Owner: "nokey", Failover: true, LeaseTTL: 300 * time.Millisecond})
	v := waitFinal(t, noKey, orphan.ID)
	if v.Run.Error == nil || v.Run.Error.Code != "RESUME_FAILED" || !strings.Contains(v.Run.Error.Message, "no state key") {
		t.Fatalf("without the key: %s %+v, want RESUME_FAILED about the state key", v.Run.State, v.Run.Error)
	}
	// With it, the --var value (not the environment's) resolves the pipeline again.
	st2 := newMemStore()
	orphan2 := seedOrphan(t, st2, time.Now().Add(-time.Second), "")
	r2 := st2.runs[orphan2.ID]
	if err := submitter.attachResumeData(&r2, Submission{YAML: resumableYAML, Variables: map[string]string{"PW": "from-var"}}, false); err != nil {
		t.Fatal(err)
	}
	st2.runs[orphan2.ID] = r2
	withKey := startEngine(t, st2, rl, Config{Owner: "me", Failover: true, LeaseTTL: 300 * time.Millisecond, Sealer: box})
	if v := waitFinal(t, withKey, orphan2.ID); v.Run.State != store.StateSucceeded {
		t.Fatalf("with the key: %s %+v", v.Run.State, v.Run.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if password != "from-var" {
		t.Errorf("resumed source password %v, want the sealed --var value", password)
	}
}

func TestTakeOverFinishesCancelRequestedRun(t *testing.T) {
	st := newMemStore()
	orphan := seedOrphan(t, st, time.Now().Add(-time.Second), "")
	if _, _, err := st.RequestCancel(context.Background(), orphan.ID); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, st, &fakeRelay{}, Config{Owner: "me", Failover: true, LeaseTTL: 300 * time.Millisecond})
	if v := waitFinal(t, e, orphan.ID); v.Run.State != store.StateCancelled {
		t.Fatalf("run = %s %+v, want CANCELLED", v.Run.State, v.Run.Error)
	}
}

func TestTakeOverKeepsHandOffAttemptError(t *testing.T) {
	st := newMemStore()
	orphan := seedOrphan(t, st, time.Now().Add(-time.Second), "")
	_ = st.FinishAttempt(context.Background(), orphan.ID, 1, time.Now(), handOffError("dead"))
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 1, p), nil
	}}
	e := startEngine(t, st, rl, Config{Owner: "me", Failover: true, LeaseTTL: 300 * time.Millisecond})
	v := waitFinal(t, e, orphan.ID)
	if v.Run.State != store.StateSucceeded || len(v.Attempts) != 2 || v.Attempts[0].Error == nil || v.Attempts[0].Error.Code != "COORDINATOR_SHUTDOWN" {
		t.Fatalf("run %s, attempts %+v; want SUCCEEDED with attempt 1 still ended COORDINATOR_SHUTDOWN", v.Run.State, v.Attempts)
	}
}

// pausingStore pauses CreateRun once the run is stored, until resume.
type pausingStore struct {
	*memStore
	created chan struct{}
	resume  chan struct{}
}

func (s *pausingStore) CreateRun(ctx context.Context, r store.Run) (store.Run, bool, error) {
	got, existed, err := s.memStore.CreateRun(ctx, r)
	close(s.created)
	<-s.resume
	return got, existed, err
}

// A run Submit has stored and leased but not yet started is not taken over
// by its own coordinator's takeOver (the same owner also takes over the
// runs it held before a restart): it ran twice, both writing, under load
// (TestConcurrentLoad found a table with its rows twice).
func TestTakeOverLeavesARunBeingSubmitted(t *testing.T) {
	var mu sync.Mutex
	inFlight := 0
	release := make(chan struct{})
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		mu.Lock()
		inFlight++
		mu.Unlock()
		<-release
		return okResult(job, 1, p), nil
	}}
	st := &pausingStore{memStore: newMemStore(), created: make(chan struct{}), resume: make(chan struct{})}
	e := New(st, rl, Config{Owner: "me", Env: envPW, Jitter: -1, LeaseTTL: time.Minute}, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-e.Ready()

	submitted := make(chan store.Run, 1)
	go func() {
		r, _, err := e.Submit(context.Background(), Submission{YAML: resumableYAML})
		if err != nil {
			t.Errorf("submit: %v", err)
		}
		submitted <- r
	}()
	<-st.created
	e.takeOver(context.Background())
	close(st.resume)
	r := <-submitted
	// One execution runs its two streams and waits in the relay; once both
	// are there, a second execution of the run would be there too by the
	// end of a grace period (which can only hide a duplicate, never fail a
	// correct engine).
	inFlightNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return inFlight
	}
	for deadline := time.Now().Add(10 * time.Second); inFlightNow() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	n := inFlightNow()
	close(release)
	if n != 2 {
		t.Errorf("%d stream jobs in flight, want 2 (streams a and b, once): the run executes more than once", n)
	}
	if v := waitFinal(t, e, r.ID); v.Run.State != store.StateSucceeded || v.Run.Attempts != 1 {
		t.Fatalf("run = %s after %d attempts, want SUCCEEDED after 1", v.Run.State, v.Run.Attempts)
	}
}

// staleStore lists a finished run as still running, as a listing taken
// just before the run ended would.
type staleStore struct{ *memStore }

func (s staleStore) ListUnfinished(ctx context.Context) ([]store.Run, error) {
	r, err := s.GetRun(ctx, "done")
	r.State, r.UpdatedAt = store.StateRunning, time.Now().Add(-time.Hour)
	return []store.Run{r}, err
}

// takeOver reads a run again once it holds the lease: a run that ended
// after the listing is not started again.
func TestTakeOverSkipsARunThatEndedSinceTheListing(t *testing.T) {
	rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, p func(relay.Progress)) (relay.Result, error) {
		t.Errorf("relayed %s: a finished run was started again", job.Stream.Name)
		return okResult(job, 1, p), nil
	}}
	ms := newMemStore()
	ctx := context.Background()
	if _, _, err := ms.CreateRun(ctx, store.Run{ID: "done", Pipeline: "p1", State: store.StateSucceeded, PipelineYAML: resumableYAML,
		Owner: "dead", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	e := New(staleStore{ms}, rl, Config{Owner: "me", Env: envPW, Jitter: -1, LeaseTTL: time.Second}, hclog.NewNullLogger())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = e.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-e.Ready()
	e.takeOver(ctx)
	if r, _ := ms.GetRun(ctx, "done"); r.State != store.StateSucceeded || r.Owner != "dead" {
		t.Errorf("run = %s owned by %s, want SUCCEEDED by dead, untouched", r.State, r.Owner)
	}
	if _, err := ms.GetLease(ctx, "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after takeOver = %v, want released", err)
	}
}
