package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
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
	FinishAttempt(ctx context.Context, runID string, number int, finishedAt time.Time, failure *retry.ConnectorError) error
	ListAttempts(ctx context.Context, runID string) ([]store.Attempt, error)
	PutStreamResult(ctx context.Context, r store.StreamResult) error
	ListStreamResults(ctx context.Context, runID string) ([]store.StreamResult, error)
	GetCursor(ctx context.Context, pipeline, stream string, partition uint32) (*store.Checkpoint, error)
	PutCursor(ctx context.Context, pipeline, runID string, cp store.Checkpoint) error
}

// relayer relays one stream between workers (relay.Relayer).
type relayer interface {
	Relay(ctx context.Context, job relay.Job, onProgress func(relay.Progress)) (relay.Result, error)
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
	// host name).
	Owner string
	// StaleAfter is how long an unfinished run may go without updates
	// before a coordinator fails it as abandoned (default 2 min).
	StaleAfter time.Duration
	// Heartbeat is how often active runs are saved to the store with their
	// live counts, and how often abandoned runs are looked for (default 15 s).
	Heartbeat time.Duration
	// ProgressInterval rate-limits progress events per run (default 250 ms).
	ProgressInterval time.Duration
	// CancelPoll is how often an executing run checks the store for a
	// cancel request made through another coordinator (default 2 s).
	CancelPoll time.Duration
	// Observer, when set, is told about run starts, retries and ends
	// (metrics). Its methods must not block.
	Observer Observer
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
	if c.StaleAfter <= 0 {
		c.StaleAfter = 2 * time.Minute
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

	mu      sync.Mutex
	base    context.Context // set by Run; nil when not running
	active  map[string]context.CancelCauseFunc
	wg      sync.WaitGroup
	stopped bool
}

// New returns an engine over st and rl.
func New(st runStore, rl relayer, cfg Config, log hclog.Logger) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{
		store:  st,
		relay:  rl,
		cfg:    cfg,
		log:    log.Named("engine"),
		hub:    newHub(),
		slots:  make(chan struct{}, cfg.MaxConcurrentRuns),
		ready:  make(chan struct{}),
		active: map[string]context.CancelCauseFunc{},
	}
}

// Run starts the engine: it fails the runs a previous coordinator process
// left unfinished, accepts submissions, and blocks until ctx is done. It
// then cancels the active runs (they end FAILED with COORDINATOR_SHUTDOWN)
// and waits for them to be recorded.
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

	if err := e.recover(ctx, true); err != nil {
		e.log.Error("recover unfinished runs", "error", err)
	}
	close(e.ready)
	sweep := time.NewTicker(e.cfg.Heartbeat)
	defer sweep.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-sweep.C:
			// Fail runs whose coordinator died since (never RUNNING forever).
			if err := e.recover(ctx, false); err != nil && ctx.Err() == nil {
				e.log.Error("recover unfinished runs", "error", err)
			}
		}
	}

	e.mu.Lock()
	e.stopped = true
	for _, cancel := range e.active {
		cancel(errShutdown)
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// Ready is closed once Run has recovered unfinished runs and accepts
// submissions.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// recover fails the unfinished runs that no live coordinator drives: at
// startup those of this owner (a previous process) and of no owner; at any
// time those not updated for StaleAfter. Runs executing here are skipped.
func (e *Engine) recover(ctx context.Context, startup bool) error {
	runs, err := e.store.ListUnfinished(ctx)
	if err != nil {
		return fmt.Errorf("list unfinished runs: %w", err)
	}
	now := time.Now() // compared with the store's UpdatedAt
	for _, r := range runs {
		e.mu.Lock()
		_, local := e.active[r.ID]
		e.mu.Unlock()
		if local {
			continue
		}
		mine := r.Owner == "" || r.Owner == e.cfg.Owner
		if !(startup && mine) && now.Sub(r.UpdatedAt) < e.cfg.StaleAfter {
			continue // a live coordinator may drive it
		}
		r.Error = restartedError(string(r.State))
		r.State = store.StateFailed
		r.FinishedAt = now
		if !r.StartedAt.IsZero() {
			r.DurationSecs = now.Sub(r.StartedAt).Seconds()
		}
		if r.Attempts > 0 {
			_ = e.store.FinishAttempt(ctx, r.ID, r.Attempts, now, r.Error) // already finished is fine
		}
		if err := e.store.UpdateRun(ctx, r); err != nil {
			return fmt.Errorf("fail run %s: %w", r.ID, err)
		}
		e.log.Warn("failed a run left unfinished by a previous coordinator", "run_id", r.ID, "pipeline", r.Pipeline)
	}
	return nil
}

// Submission is a request to run a pipeline.
type Submission struct {
	// YAML is the pipeline definition with ${VAR} references unresolved.
	YAML string
	// IdempotencyKey, when set, returns the existing run with that key.
	IdempotencyKey string
	// Variables supply ${VAR} values ahead of the environment. They live in
	// memory for the run's duration only and are never stored.
	Variables map[string]string
}

// Submit validates and records a run and starts it in the background. It
// returns the run and whether it already existed (same idempotency key).
// A pipeline that does not parse returns a *pipeline.ValidationError.
func (e *Engine) Submit(ctx context.Context, sub Submission) (store.Run, bool, error) {
	lookup := pipeline.MapLookup(sub.Variables, e.cfg.Env)
	planStart := time.Now()
	p, err := pipeline.Parse([]byte(sub.YAML), lookup)
	if err != nil {
		return store.Run{}, false, err
	}
	stored, err := pipeline.RedactYAML([]byte(sub.YAML), nil)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("redact pipeline: %w", err)
	}
	e.mu.Lock()
	running := e.base != nil && !e.stopped
	e.mu.Unlock()
	if !running {
		return store.Run{}, false, ErrNotRunning
	}
	run, existed, err := e.store.CreateRun(ctx, store.Run{
		Pipeline:       p.Name,
		State:          store.StatePending,
		IdempotencyKey: sub.IdempotencyKey,
		PipelineYAML:   string(stored),
		Owner:          e.cfg.Owner,
	})
	if err != nil {
		return store.Run{}, false, fmt.Errorf("create run: %w", err)
	}
	if existed {
		return run, true, nil
	}
	if err := e.start(run, p, lookup, time.Since(planStart)); err != nil {
		return store.Run{}, false, err
	}
	e.log.Info("run submitted", "run_id", run.ID, "pipeline", run.Pipeline)
	return run, false, nil
}

// start launches a run's goroutine.
func (e *Engine) start(run store.Run, p *pipeline.Pipeline, lookup pipeline.Lookup, plan time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.base == nil || e.stopped {
		return ErrNotRunning
	}
	ctx, cancel := context.WithCancelCause(e.base)
	e.active[run.ID] = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			delete(e.active, run.ID)
			e.mu.Unlock()
			cancel(nil)
			e.hub.finish(run.ID)
		}()
		x := &execution{e: e, run: run, p: p, lookup: lookup, plan: plan, cancel: cancel}
		x.execute(ctx)
	}()
	return nil
}

// RunView is a run with its attempts and stream results.
type RunView struct {
	Run      store.Run
	Attempts []store.Attempt
	Streams  []store.StreamResult
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
	return RunView{Run: run, Attempts: atts, Streams: streams}, nil
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
	cancel, local := e.active[id]
	e.mu.Unlock()
	if local {
		cancel(errUserCancel)
		e.log.Info("run cancel requested", "run_id", id)
		return run, true, nil
	}
	if run.Owner != "" && run.Owner != e.cfg.Owner && time.Since(run.UpdatedAt) < e.cfg.StaleAfter {
		return run, true, nil // its owner sees CancelRequested
	}
	now := e.cfg.Clock.Now()
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
