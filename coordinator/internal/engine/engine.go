package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/catalog"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/contract"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// runStore is the part of store.Store the engine uses.
type runStore interface {
	CreateRun(ctx context.Context, run store.Run) (store.Run, bool, error)
	GetRun(ctx context.Context, id string) (store.Run, error)
	UpdateRun(ctx context.Context, run store.Run) error
	RequestCancel(ctx context.Context, id string) (store.Run, bool, error)
	ListRuns(ctx context.Context, f store.ListFilter) ([]store.Run, string, error)
	ListUnfinished(ctx context.Context) ([]store.Run, error)
	AddAttempt(ctx context.Context, a store.Attempt) error
	FinishAttempt(ctx context.Context, runID string, number int, finishedAt time.Time, failure *runerr.ConnectorError) error
	ListAttempts(ctx context.Context, runID string) ([]store.Attempt, error)
	PutStreamResult(ctx context.Context, r store.StreamResult) error
	ListStreamResults(ctx context.Context, runID string) ([]store.StreamResult, error)
	GetCursor(ctx context.Context, pipeline, stream string, partition uint32) (*store.Checkpoint, error)
	PutCursor(ctx context.Context, pipeline, runID string, cp store.Checkpoint) error
	DeleteCursors(ctx context.Context, pipeline, stream string) error
	AcquireLease(ctx context.Context, l store.Lease, now time.Time) (store.Lease, bool, error)
	RenewLease(ctx context.Context, l store.Lease) (bool, error)
	ReleaseLease(ctx context.Context, pipeline, runID, owner string) error
	ListLeases(ctx context.Context) ([]store.Lease, error)
}

// sealer encrypts the submit-time values a resumed run needs (seal.Box).
type sealer interface {
	Seal(plain []byte, context string) ([]byte, error)
	Open(sealed []byte, context string) ([]byte, error)
}

// relayer relays one stream between workers (relay.Relayer).
type relayer interface {
	Relay(ctx context.Context, job relay.Job, onProgress func(relay.Progress)) (relay.Result, error)
	HoldSnapshot(ctx context.Context, job relay.Job) (id string, release func(), err error)
}

// Config tunes an Engine. Zero values mean the defaults.
type Config struct {
	// MaxConcurrentRuns bounds the runs executing at once; more wait in
	// PENDING (default 16).
	MaxConcurrentRuns int
	// Clock drives retry backoff (default the real clock).
	Clock retry.Clock
	// Jitter is the retry jitter fraction (0 = retry.DefaultJitter, < 0 = none).
	Jitter float64
	// Env looks up ${VAR} values after a submission's own variables
	// (default os.LookupEnv).
	Env pipeline.Lookup
	// Owner identifies this coordinator instance in the store (default the
	// host name). It must differ between live coordinators sharing a store;
	// a restarted process that keeps its owner id takes its runs back at
	// once instead of waiting for their leases to expire.
	Owner string
	// LeaseTTL is how long a run's pipeline lease lasts unless renewed; it
	// is renewed every LeaseTTL/3, and with Failover expired leases are
	// looked for as often (default 15 s).
	LeaseTTL time.Duration
	// Failover makes the engine resume runs whose coordinator stopped
	// (their lease expired), and hand its own runs off at shutdown instead
	// of failing them. Off for an embedded coordinator, which lives for one
	// command.
	Failover bool
	// Sealer, when set, encrypts the submit-time values (--var values,
	// literal secrets) another coordinator process needs to resume a run;
	// without it such runs cannot be resumed elsewhere.
	Sealer sealer
	// Heartbeat is how often active runs are saved to the store with their
	// live counts (default 15 s).
	Heartbeat time.Duration
	// ProgressInterval rate-limits progress events per run (default 250 ms).
	ProgressInterval time.Duration
	// CancelPoll is how often an executing run checks the store for a
	// cancel request made through another coordinator (default 2 s).
	CancelPoll time.Duration
	// Observer, when set, is told about run starts, retries and ends
	// (metrics). Its methods must not block.
	Observer Observer
	// Discoverer, when set, plans every run through the source's catalog:
	// streams, sync modes and projections are checked against it and
	// stream patterns ("public.*") expanded (see contract.Plan); without it
	// a pipeline with patterns fails.
	Discoverer catalog.Discoverer
	// Manifests, when set, checks connector configs against their
	// manifests' config_schema and partitioning against the source's
	// capabilities before a run's first connector call.
	Manifests contract.Manifests
}

// Observer receives run lifecycle notifications, e.g. to export metrics.
type Observer interface {
	// RunStarted is called when a run leaves PENDING.
	RunStarted()
	// RunRetried is called before each retry of a run's failed streams.
	RunRetried()
	// RunFinished is called once per run with its final state and totals;
	// started says whether RunStarted was called for it.
	RunFinished(state store.RunState, started bool, recordsWritten, bytesWritten uint64, duration time.Duration)
}

// nopObserver ignores every notification.
type nopObserver struct{}

func (nopObserver) RunStarted()                                                     {}
func (nopObserver) RunRetried()                                                     {}
func (nopObserver) RunFinished(store.RunState, bool, uint64, uint64, time.Duration) {}

func (c Config) withDefaults() Config {
	if c.MaxConcurrentRuns <= 0 {
		c.MaxConcurrentRuns = 16
	}
	if c.Clock == nil {
		c.Clock = retry.RealClock{}
	}
	if c.Env == nil {
		c.Env = os.LookupEnv
	}
	if c.Owner == "" {
		c.Owner, _ = os.Hostname()
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.CancelPoll <= 0 {
		c.CancelPoll = 2 * time.Second
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 250 * time.Millisecond
	}
	return c
}

// Engine executes runs. Create it with New and start it with Run.
type Engine struct {
	store runStore
	relay relayer
	cfg   Config
	log   hclog.Logger
	hub   *hub
	slots chan struct{}
	ready chan struct{}

	mu     sync.Mutex
	base   context.Context // set by Run; nil when not running
	active map[string]context.CancelCauseFunc
	execs  map[string]*execution // the executing runs, by id
	// submitting holds the runs Submit is between taking their lease and
	// starting them: stored and leased to this owner, not yet active, so
	// takeOver must not mistake them for runs of a previous process.
	submitting map[string]struct{}
	wg         sync.WaitGroup
	stopped    bool
}

// New returns an engine over st and rl.
func New(st runStore, rl relayer, cfg Config, log hclog.Logger) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{
		store:      st,
		relay:      rl,
		cfg:        cfg,
		log:        log.Named("engine"),
		hub:        newHub(),
		slots:      make(chan struct{}, cfg.MaxConcurrentRuns),
		ready:      make(chan struct{}),
		active:     map[string]context.CancelCauseFunc{},
		execs:      map[string]*execution{},
		submitting: map[string]struct{}{},
	}
}

// Run starts the engine and blocks until ctx is done. With Failover it
// first resumes the runs whose coordinator stopped (expired leases, or
// leases of this owner id from a previous process) and keeps looking for
// such runs every LeaseTTL/3. When ctx ends it stops the active runs: with
// Failover it releases them, unfinished, for another coordinator process to
// resume; otherwise they end FAILED with COORDINATOR_SHUTDOWN.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.base != nil || e.stopped {
		e.mu.Unlock()
		return errors.New("engine already started")
	}
	// Runs outlive no Run call, but they end through cancel(errShutdown)
	// below, so that they are recorded as interrupted, not user-cancelled.
	e.base = context.WithoutCancel(ctx)
	e.mu.Unlock()

	var scan <-chan time.Time // nil without Failover: never fires
	if e.cfg.Failover {
		e.takeOver(ctx)
		t := time.NewTicker(e.cfg.LeaseTTL / 3)
		defer t.Stop()
		scan = t.C
	}
	close(e.ready)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-scan:
			e.takeOver(ctx)
		}
	}

	cause := errShutdown
	if e.cfg.Failover {
		cause = errHandOff
	}
	e.mu.Lock()
	e.stopped = true
	for _, cancel := range e.active {
		cancel(cause)
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// Ready is closed once Run has taken over the runs left to it and accepts
// submissions.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// awaitReady waits until Run accepts submissions. A server serves its
// first calls alongside Run, in goroutines the scheduler may start in
// either order (on a loaded machine a call can arrive before Run has begun):
// such a call waits instead of failing. It returns ErrNotRunning once Run
// has stopped, ctx's error when ctx ends first, and ErrStarting after
// readyWait (a failover take-over at start-up that outlasts it, e.g. on a
// slow state store: the caller retries, rather than hangs with no deadline).
func (e *Engine) awaitReady(ctx context.Context) error {
	t := time.NewTimer(readyWait)
	defer t.Stop()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrStarting
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return ErrNotRunning
	}
	return nil
}

// readyWait bounds how long a submission waits for Run (see awaitReady).
const readyWait = 30 * time.Second

// Submission is a request to run a pipeline.
type Submission struct {
	// YAML is the pipeline definition with ${VAR} references unresolved.
	YAML string
	// IdempotencyKey, when set, returns the existing run with that key.
	IdempotencyKey string
	// Variables supply ${VAR} values ahead of the environment. They live in
	// memory for the run's duration only and are never stored.
	Variables map[string]string
	// Follow keeps the pipeline's change stream reading until the run is
	// cancelled (see follow.go); the pipeline needs a cdc stream.
	Follow bool
}

// Submit validates and records a run and starts it in the background. It
// returns the run and whether it already existed (same idempotency key).
// Called before Run is ready, it waits for it (see awaitReady).
// A pipeline that does not parse returns a *pipeline.ValidationError; a
// pipeline with an active run (its lease is live) an *ActiveRunError. An
// unfinished run of the pipeline whose lease expired (its coordinator
// stopped) is superseded: it ends FAILED with RUN_SUPERSEDED.
func (e *Engine) Submit(ctx context.Context, sub Submission) (store.Run, bool, error) {
	lookup := pipeline.MapLookup(sub.Variables, e.cfg.Env)
	planStart := time.Now()
	p, err := pipeline.Parse([]byte(sub.YAML), lookup)
	if err != nil {
		return store.Run{}, false, err
	}
	if _, cdc := p.ChangeStream(); sub.Follow && !cdc {
		return store.Run{}, false, runerr.New(runerr.CategoryConfig, "FOLLOW_WITHOUT_CDC",
			"pipeline %q has no stream with sync_mode: cdc: only a change stream can be followed", p.Name)
	}
	stored, err := pipeline.RedactYAML([]byte(sub.YAML), nil)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("redact pipeline: %w", err)
	}
	if err := e.awaitReady(ctx); err != nil {
		return store.Run{}, false, err
	}
	run := store.Run{
		ID:             uuid.NewString(),
		Pipeline:       p.Name,
		State:          store.StatePending,
		IdempotencyKey: sub.IdempotencyKey,
		PipelineYAML:   string(stored),
		Owner:          e.cfg.Owner,
		Follow:         sub.Follow,
	}
	if err := e.attachResumeData(&run, sub, string(stored) != sub.YAML); err != nil {
		return store.Run{}, false, err
	}
	e.mu.Lock()
	e.submitting[run.ID] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.submitting, run.ID)
		e.mu.Unlock()
	}()
	// The lease comes first: no run of a pipeline exists without it.
	now := time.Now()
	held, ok, err := e.store.AcquireLease(ctx, e.lease(run, now), now)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("take the pipeline's lease: %w", err)
	}
	if !ok {
		if sub.IdempotencyKey != "" && held.RunID != "" {
			if active, err := e.store.GetRun(ctx, held.RunID); err == nil && active.IdempotencyKey == sub.IdempotencyKey {
				return active, true, nil
			}
		}
		return store.Run{}, false, &ActiveRunError{Pipeline: p.Name, RunID: held.RunID, Owner: held.Owner, ExpiresAt: held.ExpiresAt}
	}
	created, existed, err := e.store.CreateRun(ctx, run)
	if err != nil || existed {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if rerr := e.store.ReleaseLease(rctx, run.Pipeline, run.ID, e.cfg.Owner); rerr != nil {
			e.log.Error("release lease", "pipeline", run.Pipeline, "error", rerr)
		}
		if err != nil {
			return store.Run{}, false, fmt.Errorf("create run: %w", err)
		}
		return created, true, nil
	}
	e.supersede(ctx, created)
	if err := e.start(created, p, lookup, time.Since(planStart), ""); err != nil {
		return store.Run{}, false, err
	}
	e.log.Info("run submitted", "run_id", created.ID, "pipeline", created.Pipeline)
	return created, false, nil
}

// start launches a run's goroutine.
// resumedFrom, when set, is the coordinator the run was taken over from.
func (e *Engine) start(run store.Run, p *pipeline.Pipeline, lookup pipeline.Lookup, plan time.Duration, resumedFrom string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.base == nil || e.stopped {
		return ErrNotRunning
	}
	ctx, cancel := context.WithCancelCause(e.base)
	x := &execution{e: e, run: run, p: p, lookup: lookup, plan: plan, cancel: cancel, resumedFrom: resumedFrom,
		follow: run.Follow, follows: map[*task]*relay.Follow{}}
	e.active[run.ID] = cancel
	e.execs[run.ID] = x
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			delete(e.active, run.ID)
			delete(e.execs, run.ID)
			e.mu.Unlock()
			cancel(nil)
			e.hub.finish(run.ID)
		}()
		x.execute(ctx)
	}()
	return nil
}

// RunView is a run with its attempts and stream results.
type RunView struct {
	Run      store.Run
	Attempts []store.Attempt
	Streams  []store.StreamResult
	// Lags is the live lag of the change streams of a follow run executing
	// here, by stream name (nil otherwise).
	Lags map[string]Lag
}

// Get returns a run with its attempts and stream results. A missing run
// wraps store.ErrNotFound.
func (e *Engine) Get(ctx context.Context, id string) (RunView, error) {
	run, err := e.store.GetRun(ctx, id)
	if err != nil {
		return RunView{}, fmt.Errorf("get run %q: %w", id, err)
	}
	atts, err := e.store.ListAttempts(ctx, id)
	if err != nil {
		return RunView{}, fmt.Errorf("list attempts of run %q: %w", id, err)
	}
	streams, err := e.store.ListStreamResults(ctx, id)
	if err != nil {
		return RunView{}, fmt.Errorf("list stream results of run %q: %w", id, err)
	}
	pipelineOrder(streams, atts)
	return RunView{Run: run, Attempts: atts, Streams: streams, Lags: e.RunLags(id)}, nil
}

// pipelineOrder sorts stream results in the order the run planned them (the
// pipeline's, patterns expanded), which the first attempt records; the
// store returns them by name, where t10 comes before t2. Streams no attempt
// lists keep the store's order, after the others.
func pipelineOrder(streams []store.StreamResult, atts []store.Attempt) {
	pos := map[string]int{}
	for _, a := range atts {
		for _, name := range a.Streams {
			name, _, _ = strings.Cut(name, "[") // a partition is "name[i/n]"
			if _, ok := pos[name]; !ok {
				pos[name] = len(pos)
			}
		}
	}
	rank := func(s store.StreamResult) int {
		if p, ok := pos[s.Stream]; ok {
			return p
		}
		return len(pos)
	}
	slices.SortStableFunc(streams, func(a, b store.StreamResult) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Partition, b.Partition))
	})
}

// List returns one page of runs, newest first.
func (e *Engine) List(ctx context.Context, f store.ListFilter) ([]store.Run, string, error) {
	runs, next, err := e.store.ListRuns(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	return runs, next, nil
}

// Cancel requests cancellation of a run. accepted is false when the run had
// already finished. A run this engine executes stops promptly (its relays
// are cancelled, so workers stop the guests) and ends CANCELLED; a run no
// live coordinator executes is marked CANCELLED at once.
func (e *Engine) Cancel(ctx context.Context, id string) (store.Run, bool, error) {
	run, accepted, err := e.store.RequestCancel(ctx, id)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("cancel run %q: %w", id, err)
	}
	if !accepted {
		return run, false, nil
	}
	e.mu.Lock()
	x, local := e.execs[id]
	e.mu.Unlock()
	if local {
		x.userCancel()
		e.log.Info("run cancel requested", "run_id", id)
		return run, true, nil
	}
	// Another live coordinator drives it: its owner sees CancelRequested.
	// Otherwise take the lease (so nobody resumes the run meanwhile) and
	// mark it CANCELLED here.
	now := time.Now()
	l := e.lease(run, now)
	if _, ok, err := e.store.AcquireLease(ctx, l, now); err != nil {
		return store.Run{}, false, fmt.Errorf("cancel run %q: %w", id, err)
	} else if !ok {
		return run, true, nil
	}
	defer func() {
		if err := e.store.ReleaseLease(context.WithoutCancel(ctx), l.Pipeline, l.RunID, l.Owner); err != nil {
			e.log.Error("release lease", "run_id", id, "error", err)
		}
	}()
	now = e.cfg.Clock.Now()
	run.State, run.FinishedAt, run.Error = store.StateCancelled, now, cancelledError()
	if err := e.store.UpdateRun(ctx, run); err != nil {
		return store.Run{}, false, fmt.Errorf("cancel run %q: %w", id, err)
	}
	return run, true, nil
}

// Watch returns the run's events. The channel closes when the run reaches a
// final state (read it from the store then) or when stop is called. For a
// run that is not executing here, the channel closes at once.
func (e *Engine) Watch(id string) (events <-chan Event, stop func()) {
	ch, stop := e.hub.subscribe(id)
	e.mu.Lock()
	_, local := e.active[id]
	e.mu.Unlock()
	if !local {
		stop()
	}
	return ch, stop
}

// Wait blocks until the run reaches a final state or ctx ends, and returns
// the run as stored.
func (e *Engine) Wait(ctx context.Context, id string) (store.Run, error) {
	for {
		ch, stop := e.Watch(id)
		for range ch {
		}
		stop()
		run, err := e.store.GetRun(ctx, id)
		if err != nil {
			return store.Run{}, fmt.Errorf("get run %q: %w", id, err)
		}
		if run.State.Final() {
			return run, nil
		}
		// Not executing here (another coordinator, or not started yet): poll.
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
