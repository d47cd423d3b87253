package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// storeTimeout bounds the store writes that record a run's end, which run
// even after the run's context was cancelled.
const storeTimeout = 10 * time.Second

// task is one stream partition of a run and what earlier attempts left.
type task struct {
	stream         pipeline.StreamConfig
	index, count   int
	attempts       int
	done           bool
	resume         *store.Checkpoint // last acknowledged checkpoint
	avoid          []string          // workers of a failed attempt
	baseRead       uint64            // records committed by earlier attempts up to resume
	baseBytes      uint64
	result         store.StreamResult
	lastErr        *retry.ConnectorError
	live           StreamProgress
	srcLoad, dstLd float64
	readDur        time.Duration
	writeDur       time.Duration
}

func (t *task) name() string {
	if t.count > 1 {
		return fmt.Sprintf("%s[%d/%d]", t.stream.Name, t.index, t.count)
	}
	return t.stream.Name
}

// execution is the state of one executing run.
type execution struct {
	e      *Engine
	run    store.Run
	p      *pipeline.Pipeline
	lookup pipeline.Lookup
	plan   time.Duration

	mu        sync.Mutex
	tasks     []*task
	attempt   int
	lastEvent time.Time
	retryWait time.Duration
	stopBeat  func() // stops the heartbeat; nil before it starts
	cancel    context.CancelCauseFunc
}

// execute drives the run to a final state.
func (x *execution) execute(ctx context.Context) {
	e := x.e
	log := e.log.With("run_id", x.run.ID, "pipeline", x.run.Pipeline)

	x.stopBeat = x.heartbeat(ctx)

	// Wait for a run slot; the run stays PENDING meanwhile.
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		x.finish(ctx, nil)
		return
	}

	x.mu.Lock()
	x.tasks = planTasks(x.p)
	x.run.State = store.StateRunning
	x.run.StartedAt = e.cfg.Clock.Now()
	x.mu.Unlock()
	x.saveRun(ctx)
	e.cfg.Observer.RunStarted()
	x.publish(Event{Message: "run started"})
	log.Info("run started", "streams", len(x.tasks))

	policy := retry.Policy{MaxRetries: x.p.Resources.MaxRetries, Jitter: e.cfg.Jitter}
	for {
		x.mu.Lock()
		x.attempt++
		x.mu.Unlock()
		failure := x.runAttempt(ctx)
		if failure == nil || ctx.Err() != nil {
			x.finish(ctx, failure)
			return
		}
		d := policy.Decision(x.attempt, *failure)
		if !d.Retry {
			log.Info("run failed", "attempt", x.attempt, "error", failure, "reason", d.Reason)
			x.finish(ctx, failure)
			return
		}
		log.Info("retrying failed streams", "attempt", x.attempt, "error", failure, "delay", d.Delay)
		e.cfg.Observer.RunRetried()
		x.publish(Event{Message: d.Reason, Error: failure})
		start := e.cfg.Clock.Now()
		err := retry.Sleep(ctx, e.cfg.Clock, d.Delay)
		x.mu.Lock()
		x.retryWait += e.cfg.Clock.Now().Sub(start)
		x.mu.Unlock()
		if err != nil {
			x.finish(ctx, failure)
			return
		}
	}
}

// planTasks splits the pipeline's streams into partitions; the cdc streams
// become one change stream task (see pipeline.ChangeStream).
func planTasks(p *pipeline.Pipeline) []*task {
	var out []*task
	if cs, ok := p.ChangeStream(); ok {
		t := &task{stream: cs, count: 1}
		t.live = StreamProgress{Stream: cs.Name, State: store.StatePending}
		out = append(out, t)
	}
	for _, s := range p.Source.Streams {
		if s.SyncMode == pipeline.SyncCDC {
			continue
		}
		n := max(s.Partitions, 1)
		for i := 0; i < n; i++ {
			t := &task{stream: s, index: i, count: n}
			t.live = StreamProgress{Stream: s.Name, Partition: uint32(i), State: store.StatePending}
			out = append(out, t)
		}
	}
	return out
}

// runAttempt runs every unfinished task once, up to parallelism at a time,
// and returns the error that decides the attempt (nil when all succeeded).
func (x *execution) runAttempt(ctx context.Context) *retry.ConnectorError {
	e := x.e
	var pending []*task
	var names []string
	for _, t := range x.tasks {
		if !t.done {
			pending = append(pending, t)
			names = append(names, t.name())
		}
	}
	now := e.cfg.Clock.Now()
	if err := e.store.AddAttempt(ctx, store.Attempt{RunID: x.run.ID, Number: x.attempt, StartedAt: now, Streams: names}); err != nil {
		e.log.Error("record attempt", "run_id", x.run.ID, "attempt", x.attempt, "error", err)
	}
	x.mu.Lock()
	x.run.Attempts = x.attempt
	x.mu.Unlock()
	x.saveRun(ctx)
	x.publish(Event{Message: fmt.Sprintf("attempt %d started: %s", x.attempt, strings.Join(names, ", "))})

	failure := x.runTasks(ctx, pending)

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.store.FinishAttempt(fctx, x.run.ID, x.attempt, e.cfg.Clock.Now(), failure); err != nil {
		e.log.Error("record attempt end", "run_id", x.run.ID, "attempt", x.attempt, "error", err)
	}
	return failure
}

// runTasks relays the tasks concurrently. A failure that can never be
// retried cancels the attempt's other tasks at once.
func (x *execution) runTasks(ctx context.Context, tasks []*task) *retry.ConnectorError {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(x.p.Resources.Parallelism, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []*retry.ConnectorError
	for _, t := range tasks {
		select {
		case sem <- struct{}{}:
		case <-actx.Done():
		}
		if actx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := x.runTask(actx, t); err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
				if !(retry.Policy{MaxRetries: 1}).Decision(1, *err).Retry {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil // the caller reports the cancellation
	}
	return decisive(failures)
}

// decisive picks the error that decides an attempt: the first one that can
// never be retried (retrying the others would not save the run), else the
// first failure. Cancellations caused by a sibling's failure never decide.
func decisive(failures []*retry.ConnectorError) *retry.ConnectorError {
	var first *retry.ConnectorError
	for _, f := range failures {
		if f.Category == retry.CategoryCancelled {
			continue
		}
		if !(retry.Policy{MaxRetries: 1}).Decision(1, *f).Retry {
			return f
		}
		if first == nil {
			first = f
		}
	}
	if first == nil && len(failures) > 0 {
		return failures[0]
	}
	return first
}

// runTask relays one task once and records its result.
func (x *execution) runTask(ctx context.Context, t *task) *retry.ConnectorError {
	e := x.e
	t.attempts++
	// Incremental and change streams continue from their persisted cursor.
	incremental := t.stream.SyncMode == pipeline.SyncIncremental || t.stream.SyncMode == pipeline.SyncCDC
	if t.resume == nil && incremental && t.attempts == 1 {
		cp, err := e.store.GetCursor(ctx, x.p.Name, t.stream.Name, uint32(t.index))
		switch {
		case err == nil:
			t.resume = cp
		case !errors.Is(err, store.ErrNotFound):
			return x.taskFailed(ctx, t, retry.New(retry.CategoryInternal, "STATE_STORE", "read cursor of %s: %v", t.name(), err), relay.Result{})
		}
	}
	resolved, err := x.p.Resolve(x.lookup)
	if err != nil {
		return x.taskFailed(ctx, t, retry.New(retry.CategoryConfig, "UNRESOLVED_VARIABLE", "%v", err), relay.Result{})
	}
	x.setLive(t, func(sp *StreamProgress) { sp.State = store.StateRunning })
	x.putResult(ctx, t, store.StateRunning, nil, relay.Result{})

	job := relay.Job{
		RunID: x.run.ID, Attempt: x.attempt, Pipeline: x.p, Stream: t.stream,
		PartitionIndex: t.index, PartitionCount: t.count,
		SourceConfig: resolved.Source, DestConfig: resolved.Destination,
		Resume: t.resume, Avoid: t.avoid,
		Timeout: time.Duration(x.p.Resources.TimeoutSeconds) * time.Second,
	}
	var lastCP *store.Checkpoint // each acknowledgement brings a new checkpoint value
	var cpErr error
	res, err := e.relay.Relay(ctx, job, func(pr relay.Progress) {
		if cp := pr.Checkpoint; cp != nil && cp != lastCP {
			lastCP = cp
			// The destination acknowledged the commit covering cp: only now
			// may it become the stream's cursor.
			if incremental && cpErr == nil {
				cpErr = e.store.PutCursor(ctx, x.p.Name, x.run.ID, *cp)
			}
		}
		x.setLive(t, func(sp *StreamProgress) {
			sp.RecordsRead = t.baseRead + pr.RecordsRead
			sp.BytesRead = t.baseBytes + pr.BytesRead
			sp.RecordsWritten = t.baseRead + pr.RecordsWritten
		})
		x.maybePublishProgress()
	})
	t.srcLoad, t.dstLd = res.SourceModuleLoadMs, res.DestModuleLoadMs
	t.readDur, t.writeDur = res.ReadDuration, res.WriteDuration
	if err == nil && cpErr != nil {
		err = retry.New(retry.CategoryInternal, "STATE_STORE", "save cursor of %s: %v", t.name(), cpErr)
	}
	if err != nil {
		return x.taskFailed(ctx, t, retry.Classify(err), res)
	}
	t.done = true
	t.lastErr = nil
	x.setLive(t, func(sp *StreamProgress) { sp.State = store.StateSucceeded })
	x.putResult(ctx, t, store.StateSucceeded, nil, res)
	return nil
}

// taskFailed records a failed task and prepares its retry: it resumes from
// the last acknowledged checkpoint and avoids the workers it used when the
// failure was a lost worker.
func (x *execution) taskFailed(ctx context.Context, t *task, ce *retry.ConnectorError, res relay.Result) *retry.ConnectorError {
	t.lastErr = ce
	if cp := res.Checkpoint; cp != nil {
		t.baseRead += cp.Records
		t.baseBytes += cp.Bytes
		t.resume = cp
	}
	t.avoid = nil
	if ce.Category == retry.CategoryTransientNetwork {
		for _, a := range []string{res.SourceWorker, res.DestWorker} {
			if a != "" {
				t.avoid = append(t.avoid, a)
			}
		}
	}
	state := store.StateFailed
	if ce.Category == retry.CategoryCancelled {
		state = store.StateCancelled
	}
	x.setLive(t, func(sp *StreamProgress) { sp.State = state })
	x.putResult(ctx, t, state, ce, res)
	return ce
}

// putResult stores the task's current result.
func (x *execution) putResult(ctx context.Context, t *task, state store.RunState, ce *retry.ConnectorError, res relay.Result) {
	sr := store.StreamResult{
		RunID: x.run.ID, Stream: t.stream.Name, Partition: uint32(t.index), State: state,
		RecordsRead:    t.baseRead + res.RecordsRead,
		RecordsWritten: t.baseRead + res.RecordsWritten,
		BytesRead:      t.baseBytes + res.BytesRead,
		BytesWritten:   t.baseBytes + res.BytesWritten,
		Attempts:       t.attempts,
		DurationSecs:   res.Duration.Seconds(),
		Error:          ce,
		Checkpoint:     t.resume,
		SourceWorker:   res.SourceWorker,
		DestWorker:     res.DestWorker,
	}
	if state == store.StateFailed || state == store.StateCancelled {
		// What this attempt committed is already folded into base.
		sr.RecordsRead, sr.RecordsWritten = t.baseRead, t.baseRead
		sr.BytesRead, sr.BytesWritten = t.baseBytes, t.baseBytes
	}
	if res.Checkpoint != nil {
		sr.Checkpoint = res.Checkpoint
	}
	t.result = sr
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := x.e.store.PutStreamResult(wctx, sr); err != nil {
		x.e.log.Error("record stream result", "run_id", x.run.ID, "stream", t.name(), "error", err)
	}
}

// finish computes the run result, records the final state and publishes it.
// failure is the deciding error of the last attempt (nil on success).
func (x *execution) finish(ctx context.Context, failure *retry.ConnectorError) {
	e := x.e
	if x.stopBeat != nil {
		x.stopBeat() // no heartbeat write may land after the final one
	}
	now := e.cfg.Clock.Now()
	x.mu.Lock()
	r := x.run
	switch cause := context.Cause(ctx); {
	case ctx.Err() != nil && errors.Is(cause, errShutdown):
		r.State, r.Error = store.StateFailed, shutdownError()
	case ctx.Err() != nil:
		r.State, r.Error = store.StateCancelled, cancelledError()
	case failure != nil:
		r.State, r.Error = store.StateFailed, failure
	default:
		r.State, r.Error = store.StateSucceeded, nil
	}
	r.FinishedAt = now
	if !r.StartedAt.IsZero() {
		r.DurationSecs = now.Sub(r.StartedAt).Seconds()
	}
	r.RecordsRead, r.RecordsWritten, r.BytesRead, r.BytesWritten = 0, 0, 0, 0
	t := store.Timings{PlanSecs: x.plan.Seconds(), RetryWaitSecs: x.retryWait.Seconds()}
	for _, tk := range x.tasks {
		r.RecordsRead += tk.result.RecordsRead
		r.RecordsWritten += tk.result.RecordsWritten
		r.BytesRead += tk.result.BytesRead
		r.BytesWritten += tk.result.BytesWritten
		t.SourceModuleLoadMs = max(t.SourceModuleLoadMs, tk.srcLoad)
		t.DestModuleLoadMs = max(t.DestModuleLoadMs, tk.dstLd)
		t.SourceDurationSecs = max(t.SourceDurationSecs, tk.readDur.Seconds())
		t.DestDurationSecs = max(t.DestDurationSecs, tk.writeDur.Seconds())
	}
	r.Timings = t
	x.run = r
	x.mu.Unlock()

	// Streams that never ran in a cancelled or failed run keep PENDING;
	// give them the run's final state so results are complete.
	for _, tk := range x.tasks {
		if tk.result.State == "" || tk.result.State == store.StateRunning || tk.result.State == store.StatePending {
			st := r.State
			if st == store.StateSucceeded {
				continue
			}
			x.setLive(tk, func(sp *StreamProgress) { sp.State = st })
			x.putResult(ctx, tk, st, r.Error, relay.Result{})
		}
	}

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.store.UpdateRun(wctx, r); err != nil {
		e.log.Error("record run end", "run_id", r.ID, "error", err)
	}
	e.cfg.Observer.RunFinished(r.State, !r.StartedAt.IsZero(), r.RecordsWritten, r.BytesWritten, time.Duration(r.DurationSecs*float64(time.Second)))
	msg := "run " + strings.ToLower(string(r.State))
	x.publish(Event{Message: msg, Error: r.Error})
	e.log.Info(msg, "run_id", r.ID, "pipeline", r.Pipeline, "attempts", r.Attempts,
		"records_written", r.RecordsWritten, "duration_secs", r.DurationSecs)
}

// saveRun writes the run's current fields.
func (x *execution) saveRun(ctx context.Context) {
	x.mu.Lock()
	r := x.run
	x.mu.Unlock()
	if err := x.e.store.UpdateRun(ctx, r); err != nil && ctx.Err() == nil {
		x.e.log.Error("record run", "run_id", r.ID, "error", err)
	}
}

// heartbeat touches the run in the store periodically (with its live
// record counts) so other coordinators know it is alive, and polls for a cancel request made
// through another coordinator. It returns a stop function.
func (x *execution) heartbeat(ctx context.Context) func() {
	hctx, cancel := context.WithCancel(ctx)
	id := x.run.ID
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(x.e.cfg.Heartbeat)
		defer t.Stop()
		poll := time.NewTicker(x.e.cfg.CancelPoll)
		defer poll.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				x.mu.Lock()
				x.run.RecordsRead, x.run.RecordsWritten, x.run.BytesRead = 0, 0, 0
				for _, tk := range x.tasks {
					x.run.RecordsRead += tk.live.RecordsRead
					x.run.RecordsWritten += tk.live.RecordsWritten
					x.run.BytesRead += tk.live.BytesRead
				}
				x.mu.Unlock()
				x.saveRun(hctx)
			case <-poll.C:
				// CancelRun may have reached another coordinator sharing the store.
				if r, err := x.e.store.GetRun(hctx, id); err == nil && r.CancelRequested && x.cancel != nil {
					x.cancel(errUserCancel)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (x *execution) setLive(t *task, f func(sp *StreamProgress)) {
	x.mu.Lock()
	f(&t.live)
	x.mu.Unlock()
}

// maybePublishProgress publishes a progress event at most once per
// ProgressInterval.
func (x *execution) maybePublishProgress() {
	x.mu.Lock()
	now := time.Now()
	due := now.Sub(x.lastEvent) >= x.e.cfg.ProgressInterval
	x.mu.Unlock()
	if due {
		x.publish(Event{Message: "progress"})
	}
}

// publish fills in the run fields of ev and hands it to the hub.
func (x *execution) publish(ev Event) {
	x.mu.Lock()
	ev.Time = x.e.cfg.Clock.Now()
	ev.RunID = x.run.ID
	ev.State = x.run.State
	ev.Attempt = x.attempt
	ev.Streams = make([]StreamProgress, len(x.tasks))
	for i, t := range x.tasks {
		ev.Streams[i] = t.live
	}
	x.lastEvent = time.Now()
	x.mu.Unlock()
	x.e.hub.publish(ev)
}
