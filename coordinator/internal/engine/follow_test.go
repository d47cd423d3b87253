package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// followRelay plays a follow read: it acknowledges a checkpoint with a log
// position, then another each time the previous one was reported
// persisted, until the run asks it to stop; its first fails calls fail
// with fail right after their first checkpoint.
func followRelay(fail error, fails int, persisted *atomic.Int64) func(ctx context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error) {
	return func(ctx context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error) {
		if job.Follow == nil {
			return relay.Result{}, errors.New("not a follow job")
		}
		var p relay.Progress
		for i := int64(1); ; i++ {
			cp := &store.Checkpoint{Stream: job.Stream.Name, Records: uint64(i), CursorField: "lsn", CursorValue: store.StringCursor(fmt.Sprintf("0/%X", 100*i)),
				Log: &store.LogPosition{Position: uint64(100 * i), Head: uint64(100*i + 50), CommitTime: time.Now().Add(-2 * time.Second)}}
			p = relay.Progress{RecordsRead: uint64(i), RecordsWritten: uint64(i), Checkpoint: cp, SourceHead: uint64(100*i + 70)}
			progress(p)
			if n <= fails {
				return relay.Result{Progress: p}, fail
			}
			persisted.Store(i)
			select {
			case <-ctx.Done():
				return relay.Result{Progress: p}, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
			if job.Follow.Stopping() {
				return relay.Result{Progress: p, Final: true}, nil
			}
		}
	}
}

// TestFollowCancelStops checks that cancelling a follow run stops its change
// stream (the relay ends by itself) and the run ends SUCCEEDED, with the
// stream's lag reported while it runs.
func TestFollowCancelStops(t *testing.T) {
	var persisted atomic.Int64
	h := newHarness(t, followRelay(nil, 0, &persisted))
	run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(0, stream{"users", ", sync_mode: cdc"}), Follow: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	for persisted.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	v, err := h.e.Get(h.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	lag, ok := v.Lags["_cdc"]
	if !ok || lag.Bytes != 70 || lag.Seconds < 2 {
		t.Errorf("lag while following = %+v (found %v), want 70 bytes and at least 2 s", lag, ok)
	}
	if _, _, err := h.e.Cancel(h.ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	final := waitFinal(t, h.e, run.ID)
	if final.Run.State != store.StateSucceeded || !final.Run.Follow {
		t.Fatalf("stopped follow run: state %s follow %v, want SUCCEEDED and follow", final.Run.State, final.Run.Follow)
	}
	if got := h.e.RunLags(run.ID); got != nil {
		t.Errorf("lags of a finished run = %v, want none", got)
	}
}

// TestFollowNeedsChangeStream checks that a follow of a pipeline without
// a cdc stream is refused.
func TestFollowNeedsChangeStream(t *testing.T) {
	h := newHarness(t, followRelay(nil, 0, new(atomic.Int64)))
	_, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(0, stream{"users", ""}), Follow: true})
	var ce *runerr.ConnectorError
	if !errors.As(err, &ce) || ce.Code != "FOLLOW_WITHOUT_CDC" {
		t.Fatalf("submit follow without cdc: %v, want FOLLOW_WITHOUT_CDC", err)
	}
}

// TestFollowRetriesAfterProgress checks that a follow whose failed attempts
// each persisted a checkpoint keeps being retried past max_retries (its
// retry count starts over), resuming from the persisted checkpoint.
func TestFollowRetriesAfterProgress(t *testing.T) {
	var persisted atomic.Int64
	h := newHarness(t, followRelay(runerr.New(runerr.CategoryTransientNetwork, "BROKEN", "worker lost"), 2, &persisted))
	stop := make(chan struct{})
	defer close(stop)
	h.advanceWhileSleeping(stop)
	run, _, err := h.e.Submit(h.ctx, Submission{YAML: pipelineYAML(1, stream{"users", ", sync_mode: cdc"}), Follow: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	for persisted.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := h.e.Cancel(h.ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	final := waitFinal(t, h.e, run.ID)
	if final.Run.State != store.StateSucceeded || final.Run.Attempts != 3 {
		t.Fatalf("follow after two failures: state %s attempts %d, want SUCCEEDED after 3", final.Run.State, final.Run.Attempts)
	}
	calls := h.rl.callsFor("_cdc")
	if len(calls) != 3 || calls[2].Resume == nil || calls[2].Resume.CursorValue.Text != "0/64" {
		t.Fatalf("retry resumed from %+v, want the persisted checkpoint 0/64", calls[len(calls)-1].Resume)
	}
}
