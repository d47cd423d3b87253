package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry/retrytest"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// fakeDiscoverer answers Discover with fixed tables of schema public (and
// their estimated sizes, when given), after failing the first failFirst
// calls with a transient error.
type fakeDiscoverer struct {
	tables    []string
	sizes     map[string]uint64
	failFirst int
	calls     *atomic.Int32
}

func (f fakeDiscoverer) Discover(context.Context, *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error) {
	if n := f.calls.Add(1); int(n) <= f.failFirst {
		return nil, transient("worker went away")
	}
	cat := &rapidbytev1.Catalog{}
	for _, n := range f.tables {
		cat.Streams = append(cat.Streams, &rapidbytev1.Stream{Namespace: "public", Name: n, EstimatedBytes: f.sizes[n]})
	}
	return &rapidbytev1.DiscoverResponse{Catalog: cat}, nil
}

// discoveringHarness starts an engine whose coordinator discovers sources
// with d and relays with fn; the engine stops at the end of the test.
func discoveringHarness(t *testing.T, d fakeDiscoverer, fn func(ctx context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error)) *harness {
	t.Helper()
	st, clock := newMemStore(), retrytest.NewClock(time.Unix(1000, 0))
	rl := &fakeRelay{fn: fn}
	env := func(name string) (string, bool) { return "s3cret", name == "PW" }
	e := New(st, rl, Config{Clock: clock, Jitter: -1, Env: env, Owner: "me", Discoverer: d}, hclog.NewNullLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-e.Ready()
	return &harness{e: e, st: st, rl: rl, clock: clock, ctx: ctx}
}

// TestRunExpandsPatterns: a pattern entry becomes one stream per selected
// table at plan time, each with the entry's settings and its own cursor;
// results come back in the pipeline's order; the connectors' phase times
// are summed into the run's timings.
func TestRunExpandsPatterns(t *testing.T) {
	calls := new(atomic.Int32)
	h := discoveringHarness(t, fakeDiscoverer{tables: []string{"t10", "tmp", "t2", "users", "t1"}, failFirst: 1, calls: calls},
		func(_ context.Context, job relay.Job, _ int, progress func(relay.Progress)) (relay.Result, error) {
			res := okResult(job, 10, progress)
			res.SourcePhases = relay.Phases{Connect: time.Second, Query: 2 * time.Second, Fetch: 3 * time.Second}
			res.DestPhases = relay.Phases{Connect: time.Second, Flush: 4 * time.Second, Commit: 5 * time.Second}
			return res, nil
		})
	st, rl := h.st, h.rl
	stop := make(chan struct{})
	defer close(stop)
	h.advanceWhileSleeping(stop) // the first discovery fails transiently and is retried

	yaml := pipelineYAML(1, stream{name: "users"}, stream{name: `"public.t*"`, extra: ", exclude: [tmp], sync_mode: incremental, cursor_field: id"})
	v := h.submitWait(t, yaml)
	if v.Run.State != store.StateSucceeded || v.Run.Attempts != 1 || calls.Load() != 2 {
		t.Fatalf("run %s after %d attempts and %d discoveries: %v", v.Run.State, v.Run.Attempts, calls.Load(), v.Run.Error)
	}
	var got []string
	for _, s := range v.Streams {
		got = append(got, s.Stream)
	}
	if strings.Join(got, ",") != "users,t1,t2,t10" {
		t.Errorf("stream results %q, want users,t1,t2,t10", got)
	}
	if jobs := rl.callsFor("t2"); len(jobs) != 1 || jobs[0].Stream.CursorField != "id" || jobs[0].Stream.Namespace != "public" {
		t.Errorf("t2 jobs = %+v, want one incremental job with the entry's cursor", jobs)
	}
	if len(st.puts) != 3 { // one cursor per selected incremental table
		t.Errorf("cursors stored: %v, want one per pattern table", st.puts)
	}
	if tm := v.Run.Timings; tm.SourceConnectSecs != 4 || tm.SourceFetchSecs != 12 || tm.DestFlushSecs != 16 || tm.DestCommitSecs != 20 {
		t.Errorf("timings = %+v, want phase sums over 4 streams", tm)
	}

	v = h.submitWait(t, pipelineYAML(0, stream{name: `"sales.*"`}))
	if v.Run.State != store.StateFailed || v.Run.Error == nil || v.Run.Error.Code != "STREAM_PATTERN" ||
		!strings.Contains(v.Run.Error.Message, `stream pattern "sales.*" selects no table`) {
		t.Errorf("run of a pattern selecting nothing = %s %+v", v.Run.State, v.Run.Error)
	}
}

// TestRunStartsLargestFirst: an attempt starts its streams largest first by
// the source's estimates (unknown sizes last, in the pipeline's order),
// while results keep the pipeline's order.
func TestRunStartsLargestFirst(t *testing.T) {
	disc := fakeDiscoverer{tables: []string{"t1", "t2", "t10", "users"}, calls: new(atomic.Int32),
		sizes: map[string]uint64{"t1": 10, "t2": 5000, "users": 100}}
	h := discoveringHarness(t, disc, func(_ context.Context, job relay.Job, _ int, progress func(relay.Progress)) (relay.Result, error) {
		return okResult(job, 10, progress), nil
	})
	rl := h.rl

	yaml := strings.Replace(pipelineYAML(0, stream{name: "users"}, stream{name: `"public.t*"`}), "parallelism: 3", "parallelism: 1", 1)
	v := h.submitWait(t, yaml)
	if v.Run.State != store.StateSucceeded {
		t.Fatalf("run %s: %v", v.Run.State, v.Run.Error)
	}
	var started, results []string
	for _, c := range rl.calls {
		started = append(started, c.Job.Stream.Name)
	}
	for _, s := range v.Streams {
		results = append(results, s.Stream)
	}
	if strings.Join(started, ",") != "t2,users,t1,t10" {
		t.Errorf("started %q, want largest first: t2,users,t1,t10", started)
	}
	if strings.Join(results, ",") != "users,t1,t2,t10" {
		t.Errorf("results %q, want the pipeline's order users,t1,t2,t10", results)
	}
}
