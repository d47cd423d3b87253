package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/contract"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// storeTimeout bounds the store writes that record a run's end, which run
// even after the run's context was cancelled.
const storeTimeout = 10 * time.Second

// maxResumeRedirects bounds the immediate re-dispatches of one task after a
// destination reported that it holds rows past the resume point.
const maxResumeRedirects = 3

// task is one stream partition of a run and what earlier attempts left.
type task struct {
	stream         pipeline.StreamConfig
	index, count   int
	attempts       int
	done           bool
	resume         *store.Checkpoint // last acknowledged checkpoint
	avoid          []string          // workers of a failed attempt
	snapshot       string            // the stream's snapshot in this attempt ("" for its own)
	baseRead       uint64            // records committed by earlier attempts up to resume
	baseBytes      uint64
	baseFailed     uint64 // records rejected by earlier attempts up to resume
	result         store.StreamResult
	lastErr        *runerr.ConnectorError
	live           StreamProgress
	srcLoad, dstLd float64
	readDur        time.Duration
	writeDur       time.Duration
	srcPh, dstPh   relay.Phases       // of the successful attempt
	log            *store.LogPosition // of the last persisted checkpoint (change streams)
	head           uint64             // the newest source log position reported
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
	// resumedFrom, when set, is the coordinator this run was taken over
	// from: tasks and attempts continue from what the store holds.
	resumedFrom string

	// follow is set for a follow run (see follow.go); follows holds the
	// follow controls of its running change streams.
	follow     bool
	follows    map[*task]*relay.Follow
	stopping   bool // the user asked a follow run to stop
	progressed bool // a checkpoint was persisted since the last failure
	streak     int  // failed attempts since the last progress (follow runs)
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

	policy := retry.Policy{MaxRetries: x.p.Resources.MaxRetries, Jitter: e.cfg.Jitter}
	if x.p.HasPatterns() || e.cfg.Discoverer != nil {
		// Planning checks the pipeline against its connectors' contracts
		// and expands patterns, through the source's Discover: a transient
		// failure is retried like an attempt's, without counting as one.
		start := time.Now()
		for n := 1; ; n++ {
			p, failure := x.expand(ctx)
			if failure == nil {
				x.p = p
				break
			}
			d := policy.Decision(n, *failure)
			if !d.Retry || ctx.Err() != nil || retry.Sleep(ctx, e.cfg.Clock, d.Delay) != nil {
				log.Info("run failed", "error", failure, "reason", d.Reason)
				x.finish(ctx, failure)
				return
			}
		}
		x.plan += time.Since(start)
	}
	tasks := planTasks(x.p)
	if x.resumedFrom != "" {
		if err := x.restore(ctx, tasks); err != nil {
			log.Error("restore run state", "error", err)
			x.finish(ctx, runerr.New(runerr.CategoryInternal, "STATE_STORE", "restore the state of run %s: %v", x.run.ID, err))
			return
		}
	}
	x.mu.Lock()
	x.tasks = tasks
	x.run.State = store.StateRunning
	if x.run.StartedAt.IsZero() {
		x.run.StartedAt = e.cfg.Clock.Now()
	}
	x.mu.Unlock()
	x.saveRun(ctx)
	e.cfg.Observer.RunStarted()
	if x.resumedFrom != "" {
		x.publish(Event{Message: fmt.Sprintf("run resumed by coordinator %s after coordinator %s stopped", e.cfg.Owner, x.resumedFrom)})
	} else {
		x.publish(Event{Message: "run started"})
	}
	log.Info("run started", "streams", len(x.tasks), "resumed_from", x.resumedFrom)

	for {
		x.mu.Lock()
		x.attempt++
		x.mu.Unlock()
		failure := x.runAttempt(ctx)
		if failure == nil || ctx.Err() != nil || x.isStopping() {
			x.finish(ctx, failure)
			return
		}
		d := policy.Decision(x.retryNumber(), *failure)
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

// restore continues a taken-over run: the attempt its previous coordinator
// left open (not handed off) is finished as interrupted (attempt numbers and retry_count
// continue from it), finished streams stay done, and the others resume
// from the last checkpoint their destination acknowledged, as a retry
// within one process would.
func (x *execution) restore(ctx context.Context, tasks []*task) error {
	e := x.e
	results, err := e.store.ListStreamResults(ctx, x.run.ID)
	if err != nil {
		return err
	}
	byKey := make(map[string]store.StreamResult, len(results))
	for _, r := range results {
		byKey[fmt.Sprintf("%s\x00%d", r.Stream, r.Partition)] = r
	}
	for _, t := range tasks {
		r, ok := byKey[fmt.Sprintf("%s\x00%d", t.stream.Name, t.index)]
		if !ok {
			continue
		}
		t.attempts = r.Attempts
		t.result = r
		t.live.RecordsRead, t.live.RecordsWritten, t.live.BytesRead = r.RecordsWritten, r.RecordsWritten, r.BytesWritten
		if r.State == store.StateSucceeded {
			t.done = true
			t.live.RecordsRead, t.live.BytesRead = r.RecordsRead, r.BytesRead
			t.live.State = store.StateSucceeded
			continue
		}
		// What the stream committed up to its checkpoint counts as done.
		t.resume = r.Checkpoint
		t.baseRead, t.baseBytes = r.RecordsWritten, r.BytesWritten
	}
	x.attempt = x.run.Attempts
	atts, err := e.store.ListAttempts(ctx, x.run.ID)
	if err != nil {
		return err
	}
	// An attempt the previous coordinator handed off is finished already.
	if n := len(atts); n > 0 && atts[n-1].Number == x.attempt && atts[n-1].FinishedAt.IsZero() {
		ce := takeoverError(x.resumedFrom, e.cfg.Owner)
		if err := e.store.FinishAttempt(ctx, x.run.ID, x.attempt, e.cfg.Clock.Now(), ce); err != nil {
			return err
		}
	}
	return nil
}

// expand checks the pipeline against its connectors' contracts (see
// contract.Plan) and returns it with its stream patterns replaced by the
// tables they select in the source's catalog.
func (x *execution) expand(ctx context.Context) (*pipeline.Pipeline, *runerr.ConnectorError) {
	if x.e.cfg.Discoverer == nil {
		return nil, runerr.New(runerr.CategoryConfig, "STREAM_PATTERN", "stream patterns need a coordinator that can discover the source")
	}
	resolved, err := x.p.Resolve(x.lookup)
	if err != nil {
		return nil, runerr.New(runerr.CategoryConfig, "UNRESOLVED_VARIABLE", "%v", err)
	}
	return contract.Plan(ctx, x.e.cfg.Manifests, x.e.cfg.Discoverer, x.p, resolved)
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

// startOrder returns tasks in the order an attempt starts them: the change
// stream first (a follow never ends), then the largest by the source's
// estimate (a partition counts its share), so that the longest stream does
// not start last and set the run's length. Equal or unknown sizes keep the
// pipeline's order.
func startOrder(tasks []*task) []*task {
	out := slices.Clone(tasks)
	slices.SortStableFunc(out, func(a, b *task) int {
		if ca, cb := a.stream.SyncMode == pipeline.SyncCDC, b.stream.SyncMode == pipeline.SyncCDC; ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.stream.EstimatedBytes/uint64(max(b.count, 1)), a.stream.EstimatedBytes/uint64(max(a.count, 1)))
	})
	return out
}

// runAttempt runs every unfinished task once, up to parallelism at a time,
// and returns the error that decides the attempt (nil when all succeeded).
func (x *execution) runAttempt(ctx context.Context) *runerr.ConnectorError {
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

	failure := x.runTasks(ctx, startOrder(pending))

	if errors.Is(context.Cause(ctx), errLeaseLost) {
		return failure // the run's new owner records the attempt
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.store.FinishAttempt(fctx, x.run.ID, x.attempt, e.cfg.Clock.Now(), failure); err != nil {
		e.log.Error("record attempt end", "run_id", x.run.ID, "attempt", x.attempt, "error", err)
	}
	return failure
}

// runTasks relays the tasks concurrently. A failure that can never be
// retried cancels the attempt's other tasks at once.
func (x *execution) runTasks(ctx context.Context, tasks []*task) *runerr.ConnectorError {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	release := x.holdSnapshots(actx, tasks)
	defer release()
	sem := make(chan struct{}, max(x.p.Resources.Parallelism, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []*runerr.ConnectorError
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

// holdSnapshots has a source worker export and hold, for each partitioned
// full-refresh stream among tasks, one snapshot that all its partitions of
// this attempt read in (as pgcopydb and PeerDB do), and sets each task's
// snapshot. It returns the function that releases the snapshots. A stream
// whose source cannot hold one reads a snapshot per partition; an event
// says so.
func (x *execution) holdSnapshots(ctx context.Context, tasks []*task) func() {
	var releases []func()
	held := map[string]string{}
	for _, t := range tasks {
		t.snapshot = ""
		if t.count <= 1 || t.stream.SyncMode != pipeline.SyncFullRefresh {
			continue
		}
		id, ok := held[t.stream.Name]
		if !ok {
			id = x.holdSnapshot(ctx, t, &releases)
			held[t.stream.Name] = id
		}
		t.snapshot = id
	}
	return func() {
		for _, r := range releases {
			r()
		}
	}
}

// holdSnapshot holds the snapshot of t's stream and returns its id ("" when
// none could be held).
func (x *execution) holdSnapshot(ctx context.Context, t *task, releases *[]func()) string {
	resolved, err := x.p.Resolve(x.lookup)
	if err != nil {
		return "" // the partitions fail with the reason
	}
	job := relay.Job{
		RunID: x.run.ID, Attempt: x.attempt, Pipeline: x.p, Stream: t.stream, PartitionCount: t.count,
		SourceConfig: resolved.Source, DestConfig: resolved.Destination, Avoid: t.avoid,
		Timeout: time.Duration(x.p.Resources.TimeoutSeconds) * time.Second,
	}
	id, release, err := x.e.relay.HoldSnapshot(ctx, job)
	if err != nil {
		x.publish(Event{Message: fmt.Sprintf("stream %s: its %d partitions read separate snapshots: %v", t.stream.Name, t.count, err)})
		return ""
	}
	*releases = append(*releases, release)
	x.publish(Event{Message: fmt.Sprintf("stream %s: its %d partitions read snapshot %s", t.stream.Name, t.count, id)})
	return id
}

// decisive picks the error that decides an attempt: the first one that can
// never be retried (retrying the others would not save the run), else the
// first failure. Cancellations caused by a sibling's failure never decide.
func decisive(failures []*runerr.ConnectorError) *runerr.ConnectorError {
	var first *runerr.ConnectorError
	for _, f := range failures {
		if f.Category == runerr.CategoryCancelled {
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
func (x *execution) runTask(ctx context.Context, t *task) *runerr.ConnectorError {
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
			return x.taskFailed(ctx, t, runerr.New(runerr.CategoryInternal, "STATE_STORE", "read cursor of %s: %v", t.name(), err), relay.Result{})
		}
	}
	resolved, err := x.p.Resolve(x.lookup)
	if err != nil {
		return x.taskFailed(ctx, t, runerr.New(runerr.CategoryConfig, "UNRESOLVED_VARIABLE", "%v", err), relay.Result{})
	}
	x.setLive(t, func(sp *StreamProgress) { sp.State = store.StateRunning })
	x.putResult(ctx, t, store.StateRunning, nil, relay.Result{})

	job := relay.Job{
		RunID: x.run.ID, Attempt: x.attempt, Pipeline: x.p, Stream: t.stream,
		PartitionIndex: t.index, PartitionCount: t.count,
		SourceConfig: resolved.Source, DestConfig: resolved.Destination,
		Resume: t.resume, Avoid: t.avoid, Snapshot: t.snapshot,
		Timeout: time.Duration(x.p.Resources.TimeoutSeconds) * time.Second,
	}
	if x.follow && t.stream.SyncMode == pipeline.SyncCDC {
		f, done, ok := x.startFollow(t)
		if !ok {
			// Stopped between attempts: nothing is left to drain.
			t.done = true
			x.setLive(t, func(sp *StreamProgress) { sp.State = store.StateSucceeded })
			x.putResult(ctx, t, store.StateSucceeded, nil, relay.Result{})
			return nil
		}
		defer done()
		job.Follow = f
	}
	var lastCP *store.Checkpoint // each acknowledgement brings a new checkpoint value
	var cpErr error
	cpFails := 0 // cursor writes failed since the last one saved
	relayOnce := func() (relay.Result, error) {
		return e.relay.Relay(ctx, job, func(pr relay.Progress) {
			if cp := pr.Checkpoint; cp != nil && cp != lastCP && ctx.Err() == nil {
				lastCP = cp
				// The destination acknowledged the commit covering cp: only now
				// may it become the stream's cursor. A failed write is tried
				// again with the next checkpoint (a later cursor supersedes
				// it); the stream fails only when its last one is not saved.
				if incremental {
					cpErr = e.store.PutCursor(ctx, x.p.Name, x.run.ID, *cp)
					x.noteCursorWrite(t, cpErr, &cpFails)
					if cpErr == nil && job.Follow != nil {
						job.Follow.Persisted(cp)
						x.noteLog(t, cp, pr.SourceHead)
					}
				}
				// The stream result keeps it too, so that a coordinator taking
				// the run over resumes the stream from it.
				x.putAck(ctx, t, cp, pr)
			}
			if job.Follow != nil {
				x.noteLog(t, nil, pr.SourceHead)
			}
			x.setLive(t, func(sp *StreamProgress) {
				sp.RecordsRead = t.baseRead + pr.RecordsRead
				sp.BytesRead = t.baseBytes + pr.BytesRead
				sp.RecordsWritten = t.baseRead - t.baseFailed + pr.RecordsWritten
				sp.RecordsFailed = t.baseFailed + pr.RecordsFailed
			})
			x.maybePublishProgress()
		})
	}
	res, err := relayOnce()
	// A destination holding rows after the resume point (a lost
	// acknowledgement, or an earlier run that failed after committing)
	// acknowledges that position and refuses the write: resume the source
	// after it at once. This is no failed attempt; the bound only stops a
	// destination that keeps moving the position.
	for redirects := 0; err != nil && cpErr == nil && redirects < maxResumeRedirects; redirects++ {
		ce := runerr.Classify(err)
		if ce.Code != runerr.CodeResumeAhead || res.Checkpoint == nil || res.RecordsWritten > 0 {
			break
		}
		t.resume, job.Resume = res.Checkpoint, res.Checkpoint
		x.publish(Event{Message: fmt.Sprintf("%s: %s", t.name(), ce.Message)})
		res, err = relayOnce()
	}
	t.srcLoad, t.dstLd = res.SourceModuleLoadMs, res.DestModuleLoadMs
	t.readDur, t.writeDur = res.ReadDuration, res.WriteDuration
	if err == nil && cpErr != nil {
		err = runerr.New(runerr.CategoryInternal, "STATE_STORE", "save cursor of %s: %v", t.name(), cpErr)
	}
	if err != nil {
		return x.taskFailed(ctx, t, runerr.Classify(err), res)
	}
	t.srcPh, t.dstPh = res.SourcePhases, res.DestPhases
	t.done = true
	t.lastErr = nil
	x.setLive(t, func(sp *StreamProgress) { sp.State = store.StateSucceeded })
	x.putResult(ctx, t, store.StateSucceeded, nil, res)
	return nil
}

// taskFailed records a failed task and prepares its retry: it resumes from
// the last acknowledged checkpoint and avoids the workers it used when the
// failure was a lost worker.
func (x *execution) taskFailed(ctx context.Context, t *task, ce *runerr.ConnectorError, res relay.Result) *runerr.ConnectorError {
	t.lastErr = ce
	if cp := res.Checkpoint; cp != nil {
		t.baseRead += cp.Records
		t.baseBytes += cp.Bytes
		t.baseFailed += res.RecordsFailed
		t.resume = cp
	}
	t.avoid = nil
	if ce.Category == runerr.CategoryTransientNetwork {
		for _, a := range []string{res.SourceWorker, res.DestWorker} {
			if a != "" {
				t.avoid = append(t.avoid, a)
			}
		}
	}
	state := store.StateFailed
	if ce.Category == runerr.CategoryCancelled {
		state = store.StateCancelled
	}
	x.setLive(t, func(sp *StreamProgress) { sp.State = state })
	x.putResult(ctx, t, state, ce, res)
	return ce
}

// putAck stores the result of a running task whose destination just
// acknowledged checkpoint cp: what it committed up to cp counts as written.
func (x *execution) putAck(ctx context.Context, t *task, cp *store.Checkpoint, pr relay.Progress) {
	sr := store.StreamResult{
		RunID: x.run.ID, Stream: t.stream.Name, Partition: uint32(t.index), State: store.StateRunning,
		RecordsRead:    t.baseRead + pr.RecordsRead,
		RecordsWritten: t.baseRead + cp.Records,
		BytesRead:      t.baseBytes + pr.BytesRead,
		BytesWritten:   t.baseBytes + cp.Bytes,
		Attempts:       t.attempts,
		Checkpoint:     cp,
	}
	if err := x.e.store.PutStreamResult(ctx, sr); err != nil && ctx.Err() == nil {
		x.e.log.Error("record stream checkpoint", "run_id", x.run.ID, "stream", t.name(), "error", err)
	}
}

// putResult stores the task's current result.
func (x *execution) putResult(ctx context.Context, t *task, state store.RunState, ce *runerr.ConnectorError, res relay.Result) {
	sr := store.StreamResult{
		RunID: x.run.ID, Stream: t.stream.Name, Partition: uint32(t.index), State: state,
		RecordsRead:    t.baseRead + res.RecordsRead,
		RecordsWritten: t.baseRead - t.baseFailed + res.RecordsWritten,
		RecordsFailed:  t.baseFailed + res.RecordsFailed,
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
		sr.RecordsRead, sr.RecordsWritten, sr.RecordsFailed = t.baseRead, t.baseRead-t.baseFailed, t.baseFailed
		sr.BytesRead, sr.BytesWritten = t.baseBytes, t.baseBytes
	}
	if res.Checkpoint != nil {
		sr.Checkpoint = res.Checkpoint
	}
	t.result = sr
	if errors.Is(context.Cause(ctx), errLeaseLost) {
		return // the run's new owner records its streams
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := x.e.store.PutStreamResult(wctx, sr); err != nil {
		x.e.log.Error("record stream result", "run_id", x.run.ID, "stream", t.name(), "error", err)
	}
}

// finish computes the run result, records the final state and publishes it.
// failure is the deciding error of the last attempt (nil on success).
func (x *execution) finish(ctx context.Context, failure *runerr.ConnectorError) {
	e := x.e
	if x.stopBeat != nil {
		x.stopBeat() // no heartbeat write may land after the final one
	}
	cause := context.Cause(ctx)
	if ctx.Err() != nil && errors.Is(cause, errLeaseLost) {
		// Another coordinator owns the run now: it records what happens next.
		x.publish(Event{Message: "run lease lost: another coordinator continues the run"})
		return
	}
	if ctx.Err() != nil && errors.Is(cause, errHandOff) {
		x.handOff(ctx)
		return
	}
	now := e.cfg.Clock.Now()
	x.mu.Lock()
	r := x.run
	switch {
	case ctx.Err() != nil && errors.Is(cause, errShutdown):
		r.State, r.Error = store.StateFailed, shutdownError()
	case ctx.Err() != nil, failure != nil && x.stopping:
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
	r.RecordsRead, r.RecordsWritten, r.BytesRead, r.BytesWritten, r.RecordsFailed = 0, 0, 0, 0, 0
	t := store.Timings{PlanSecs: x.plan.Seconds(), RetryWaitSecs: x.retryWait.Seconds()}
	for _, tk := range x.tasks {
		r.RecordsRead += tk.result.RecordsRead
		r.RecordsWritten += tk.result.RecordsWritten
		r.RecordsFailed += tk.result.RecordsFailed
		r.BytesRead += tk.result.BytesRead
		r.BytesWritten += tk.result.BytesWritten
		t.SourceModuleLoadMs = max(t.SourceModuleLoadMs, tk.srcLoad)
		t.DestModuleLoadMs = max(t.DestModuleLoadMs, tk.dstLd)
		t.SourceDurationSecs = max(t.SourceDurationSecs, tk.readDur.Seconds())
		t.DestDurationSecs = max(t.DestDurationSecs, tk.writeDur.Seconds())
		t.SourceConnectSecs += tk.srcPh.Connect.Seconds()
		t.SourceQuerySecs += tk.srcPh.Query.Seconds()
		t.SourceFetchSecs += tk.srcPh.Fetch.Seconds()
		t.DestConnectSecs += tk.dstPh.Connect.Seconds()
		t.DestFlushSecs += tk.dstPh.Flush.Seconds()
		t.DestCommitSecs += tk.dstPh.Commit.Seconds()
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
	if err := e.store.ReleaseLease(wctx, r.Pipeline, r.ID, e.cfg.Owner); err != nil {
		e.log.Error("release lease", "run_id", r.ID, "error", err)
	}
	e.cfg.Observer.RunFinished(r.State, !r.StartedAt.IsZero(), r.RecordsWritten, r.BytesWritten, time.Duration(r.DurationSecs*float64(time.Second)))
	msg := "run " + strings.ToLower(string(r.State))
	x.publish(Event{Message: msg, Error: r.Error})
	e.log.Info(msg, "run_id", r.ID, "pipeline", r.Pipeline, "attempts", r.Attempts,
		"records_written", r.RecordsWritten, "records_failed", r.RecordsFailed, "duration_secs", r.DurationSecs)
}

// handOff leaves an interrupted run unfinished for another coordinator
// process (failover shutdown): it finishes the open attempt, saves the run
// as it is and expires its lease, so the next takeover scan resumes it.
func (x *execution) handOff(ctx context.Context) {
	e := x.e
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	x.mu.Lock()
	r := x.run
	attempt := x.attempt
	x.mu.Unlock()
	if attempt > 0 {
		if err := e.store.FinishAttempt(wctx, r.ID, attempt, e.cfg.Clock.Now(), handOffError(e.cfg.Owner)); err != nil {
			e.log.Error("record attempt end", "run_id", r.ID, "error", err)
		}
	}
	if err := e.store.UpdateRun(wctx, r); err != nil {
		e.log.Error("record run", "run_id", r.ID, "error", err)
	}
	// Expire the lease rather than delete it: a run whose lease expired is
	// taken over at the next scan, one with no lease only after a TTL.
	expired := e.lease(r, time.Now())
	expired.ExpiresAt = time.Now().Add(-time.Millisecond)
	if _, err := e.store.RenewLease(wctx, expired); err != nil {
		e.log.Error("release lease", "run_id", r.ID, "error", err)
	}
	x.publish(Event{Message: "coordinator shutting down: run released for another coordinator to resume"})
	e.log.Info("run handed off", "run_id", r.ID, "pipeline", r.Pipeline, "attempts", r.Attempts)
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
	leased := store.Run{ID: id, Pipeline: x.run.Pipeline} // what the lease names
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(x.e.cfg.Heartbeat)
		defer t.Stop()
		poll := time.NewTicker(x.e.cfg.CancelPoll)
		defer poll.Stop()
		renew := time.NewTicker(x.e.cfg.LeaseTTL / 3)
		defer renew.Stop()
		renewed := time.Now()
		for {
			select {
			case <-hctx.Done():
				return
			case <-renew.C:
				now := time.Now()
				held, err := x.e.store.RenewLease(hctx, x.e.lease(leased, now))
				switch {
				case err == nil && held:
					renewed = now
				case err == nil:
					x.e.log.Warn("run lease taken over by another coordinator; stopping the run here", "run_id", id)
					x.cancel(errLeaseLost)
				case hctx.Err() != nil:
				case now.Sub(renewed) >= x.e.cfg.LeaseTTL:
					// Another coordinator may take the run now: stop first.
					x.e.log.Error("run lease expired: cannot renew it; stopping the run here", "run_id", id, "error", err)
					x.cancel(errLeaseLost)
				default:
					x.e.log.Warn("renew run lease", "run_id", id, "error", err)
				}
			case <-t.C:
				x.mu.Lock()
				x.run.RecordsRead, x.run.RecordsWritten, x.run.BytesRead, x.run.RecordsFailed = 0, 0, 0, 0
				for _, tk := range x.tasks {
					x.run.RecordsRead += tk.live.RecordsRead
					x.run.RecordsWritten += tk.live.RecordsWritten
					x.run.RecordsFailed += tk.live.RecordsFailed
					x.run.BytesRead += tk.live.BytesRead
				}
				x.mu.Unlock()
				x.saveRun(hctx)
			case <-poll.C:
				// CancelRun may have reached another coordinator sharing the store.
				if r, err := x.e.store.GetRun(hctx, id); err == nil && r.CancelRequested && x.cancel != nil {
					x.userCancel()
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
	now := time.Now()
	for i, t := range x.tasks {
		ev.Streams[i] = t.live
		ev.Streams[i].Lag = lagOf(t, now)
	}
	x.lastEvent = time.Now()
	x.mu.Unlock()
	x.e.hub.publish(ev)
}

// noteCursorWrite reports a stream's cursor writes that fail, once per
// streak (a log line and a run event; the next checkpoint tries again),
// and the write that ends the streak. Until then the cursor, and for a
// change stream the slot's confirmed position, stay where they are: a
// follow run keeps WAL on the source for as long as the state store
// refuses writes, which the warning says.
func (x *execution) noteCursorWrite(t *task, err error, fails *int) {
	log := x.e.log.With("run_id", x.run.ID, "stream", t.name())
	switch {
	case err != nil:
		*fails++
		if *fails == 1 {
			log.Warn("save cursor failed; the next checkpoint tries again (the cursor and a change stream's slot stay where they are)", "error", err)
			x.publish(Event{Message: fmt.Sprintf("%s: save cursor failed, the next checkpoint tries again: %v", t.name(), err)})
		}
	case *fails > 0:
		log.Info("cursor saved again", "failed_writes", *fails)
		x.publish(Event{Message: fmt.Sprintf("%s: cursor saved again after %d failed writes", t.name(), *fails)})
		*fails = 0
	}
}
