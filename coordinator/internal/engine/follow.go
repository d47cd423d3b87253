package engine

import (
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// A follow run (Submission.Follow) keeps its change stream reading until
// the user cancels it. Its source's worker learns every checkpoint the
// coordinator persisted (relay.Follow), so the replication slot is
// confirmed as the run goes. Cancelling it is a stop, not an abort: the
// source ends at its next commit boundary with a checkpoint, the
// destination commits it, the coordinator persists it and the run ends
// SUCCEEDED. Only a stream that does not end within followStopGrace is
// cancelled outright (the run ends CANCELLED; what the destination
// committed stays, and its positions table makes the next run skip it).
//
// Its retries: a follow run that persisted a checkpoint since its last
// failure starts its retry count over (attempts and retry_count still
// count every attempt), so a run that follows for days is not ended by
// failures spread over those days.

// followStopGrace bounds how long a stopping follow run waits for its
// change stream to end at a checkpoint before cancelling it.
const followStopGrace = 30 * time.Second

// Lag is how far a change stream's destination is behind its source.
type Lag struct {
	// Bytes is the newest source log position the source reported minus
	// the position of the last persisted checkpoint.
	Bytes uint64
	// Seconds is the time since the source committed the last transaction
	// the persisted checkpoint covers; 0 when the source was caught up at
	// that checkpoint.
	Seconds float64
}

// StreamLag is the lag of one change stream of an executing run.
type StreamLag struct {
	RunID, Pipeline, Stream string
	Lag                     Lag
}

// userCancel ends the run as the user asked: a follow run stops its change
// stream at the next checkpoint; any other run, or a follow run with no
// change stream running, is cancelled at once.
func (x *execution) userCancel() {
	if !x.follow {
		x.cancel(errUserCancel)
		return
	}
	x.mu.Lock()
	if x.stopping {
		x.mu.Unlock()
		return
	}
	x.stopping = true
	fs := make([]*relay.Follow, 0, len(x.follows))
	for _, f := range x.follows {
		fs = append(fs, f)
	}
	x.mu.Unlock()
	if len(fs) == 0 {
		x.cancel(errUserCancel)
		return
	}
	for _, f := range fs {
		f.Stop()
	}
	x.publish(Event{Message: "stop requested: the change stream ends at its next checkpoint"})
	time.AfterFunc(followStopGrace, func() { x.cancel(errUserCancel) })
}

// isStopping reports whether a follow run was asked to stop.
func (x *execution) isStopping() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stopping
}

// startFollow registers the follow control of t's relay; ok is false when
// the run is stopping (t must not start).
func (x *execution) startFollow(t *task) (f *relay.Follow, done func(), ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.stopping {
		return nil, nil, false
	}
	f = relay.NewFollow()
	x.follows[t] = f
	return f, func() {
		x.mu.Lock()
		delete(x.follows, t)
		x.mu.Unlock()
	}, true
}

// retryNumber is the attempt number the retry policy judges: a follow run
// counts only the attempts since the last one that persisted a checkpoint.
func (x *execution) retryNumber() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.follow {
		return x.attempt
	}
	if x.progressed {
		x.streak = 0
	}
	x.progressed = false
	x.streak++
	return x.streak
}

// lagOf returns the lag of task t at now; nil before its first persisted
// checkpoint with a log position. The caller holds x.mu.
func lagOf(t *task, now time.Time) *Lag {
	if t.log == nil {
		return nil
	}
	head := max(t.head, t.log.Head)
	l := &Lag{}
	if head > t.log.Position {
		l.Bytes = head - t.log.Position
	}
	if !t.log.CommitTime.IsZero() {
		l.Seconds = max(now.Sub(t.log.CommitTime).Seconds(), 0)
	}
	return l
}

// noteLog records, for lag, the log position of a persisted checkpoint
// and the newest head the source reported.
func (x *execution) noteLog(t *task, persisted *store.Checkpoint, head uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if persisted != nil && persisted.Log != nil {
		t.log = persisted.Log
		x.progressed = true
	}
	t.head = max(t.head, head)
}

// lags returns the lag of the run's change streams now.
func (x *execution) lags(now time.Time) []StreamLag {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []StreamLag
	for _, t := range x.tasks {
		if l := lagOf(t, now); l != nil {
			out = append(out, StreamLag{RunID: x.run.ID, Pipeline: x.run.Pipeline, Stream: t.stream.Name, Lag: *l})
		}
	}
	return out
}

// Lags returns the lag of every change stream of the runs executing here
// (follow runs), for metrics.
func (e *Engine) Lags() []StreamLag {
	e.mu.Lock()
	xs := make([]*execution, 0, len(e.execs))
	for _, x := range e.execs {
		xs = append(xs, x)
	}
	e.mu.Unlock()
	now := time.Now()
	var out []StreamLag
	for _, x := range xs {
		out = append(out, x.lags(now)...)
	}
	return out
}

// RunLags returns the lag of the change streams of run id when it executes
// here, by stream name; nil otherwise.
func (e *Engine) RunLags(id string) map[string]Lag {
	e.mu.Lock()
	x := e.execs[id]
	e.mu.Unlock()
	if x == nil {
		return nil
	}
	out := map[string]Lag{}
	for _, l := range x.lags(time.Now()) {
		out[l.Stream] = l.Lag
	}
	return out
}
