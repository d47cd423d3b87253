package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// TestSubmitBeforeRun: a submission that reaches the engine before its Run
// goroutine has started (the coordinator serves gRPC alongside Run, and on
// a loaded machine the first call can win) waits for Run instead of
// failing with ErrNotRunning; one whose context ends meanwhile fails with
// the context's error. synctest.Wait returns once every
// goroutine of the bubble is blocked, so the ordering is forced, not raced.
func TestSubmitBeforeRun(t *testing.T) {
	type result struct {
		run store.Run
		err error
	}
	cases := []struct {
		name string
		// next makes the waiting submission go on: it starts Run on runCtx
		// or cancels the submission's context.
		next    func(e *Engine, runCtx context.Context, cancelSubmit context.CancelFunc)
		wantErr error
	}{
		{name: "run starts", next: func(e *Engine, runCtx context.Context, _ context.CancelFunc) {
			go func() { _ = e.Run(runCtx) }()
		}},
		{name: "submission cancelled", wantErr: context.Canceled, next: func(_ *Engine, _ context.Context, cancelSubmit context.CancelFunc) {
			cancelSubmit()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				rl := &fakeRelay{fn: func(_ context.Context, job relay.Job, _ int, progress func(relay.Progress)) (relay.Result, error) {
					return okResult(job, 10, progress), nil
				}}
				env := func(string) (string, bool) { return "x", true }
				e := New(st, rl, Config{Owner: "me", Env: env}, hclog.NewNullLogger())
				runCtx, cancelRun := context.WithCancel(t.Context())
				defer cancelRun()
				subCtx, cancelSubmit := context.WithCancel(t.Context())
				defer cancelSubmit()

				res := make(chan result, 1)
				go func() {
					run, _, err := e.Submit(subCtx, Submission{YAML: pipelineYAML(0, stream{name: "a"})})
					res <- result{run, err}
				}()
				synctest.Wait()
				select {
				case r := <-res:
					t.Fatalf("Submit before Run returned (%v, %v), want it to wait for Run", r.run.ID, r.err)
				default:
				}

				tc.next(e, runCtx, cancelSubmit)
				r := <-res
				if tc.wantErr != nil {
					if !errors.Is(r.err, tc.wantErr) {
						t.Fatalf("Submit = %v, want %v", r.err, tc.wantErr)
					}
					return
				}
				if r.err != nil {
					t.Fatalf("Submit: %v", r.err)
				}
				got, err := e.Wait(subCtx, r.run.ID)
				if err != nil || got.State != store.StateSucceeded {
					t.Fatalf("run = %s (%v), want SUCCEEDED", got.State, err)
				}
			})
		})
	}
}
