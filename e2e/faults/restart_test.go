package faults

import (
	"syscall"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestCoordinatorRestart kills the coordinator (SIGKILL) while a run is
// RUNNING, starts it again on the same state store (SQLite, then
// PostgreSQL), and requires the run to end FAILED with a clear error within
// a bounded time, and a resubmission with the same idempotency key to
// return the same run instead of starting another.
func TestCoordinatorRestart(t *testing.T) {
	t.Parallel()
	e2etest.RequireBinaries(t)
	dst := e2etest.NewDatabase(t, "rb_e2b_restart_dst")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			o := clusterOpts{workers: 1}
			if backend == "postgres" {
				state := e2etest.NewDatabase(t, "rb_e2b_state")
				o.coordArgs = []string{"--state", state.DSN}
			}
			c := startCluster(t, o)
			// The source waits until it is cancelled: the run stays RUNNING.
			p := e2etest.Pipeline{Name: "rb_e2b_restart_" + backend, SourceUse: "test-faulty",
				Source: map[string]any{"mode": "wait_cancel"}, Destination: e2etest.PGConfig(dst, "public"),
				Streams:   []e2etest.Stream{{Name: "faults", DestinationTable: "restart_" + backend}},
				Resources: map[string]any{"max_retries": 0}}
			file := p.Write(t)
			key := "rb-e2b-restart-" + backend
			first := submit(t, c, file, "--idempotency-key", key)
			if first.AlreadyExists {
				t.Fatalf("first submission already exists: %+v", first)
			}
			waitUntil(t, 30*time.Second, 100*time.Millisecond, "run RUNNING", func() (bool, string) {
				st := runStatus(t, c, first.RunID).State
				return st == "RUNNING", st
			})
			time.Sleep(300 * time.Millisecond) // let the stream start on the worker

			if err := c.Coordinator.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, 50*time.Millisecond, "coordinator exited", func() (bool, string) {
				return !c.Coordinator.Running(), "running"
			})
			restarted := time.Now()
			c.Coordinator.Start(t)
			if err := c.Coordinator.WaitHealthy(e2etest.HealthTimeout); err != nil {
				t.Fatalf("restarted coordinator: %v\n%s", err, c.Coordinator.LogTail(40))
			}

			var final *e2etest.RunResult
			waitUntil(t, 30*time.Second, 200*time.Millisecond, "run leaves RUNNING after the restart", func() (bool, string) {
				final = runStatus(t, c, first.RunID)
				return final.State != "RUNNING" && final.State != "PENDING", final.State
			})
			t.Logf("run %s after restart (%.1fs): %s %+v", first.RunID, time.Since(restarted).Seconds(), final.State, final.Error)
			if final.State != "FAILED" || final.Error == nil || final.Error.Message == "" {
				t.Fatalf("after restart: state %s error %+v, want FAILED with an error", final.State, final.Error)
			}
			if final.Error.Code != "COORDINATOR_RESTARTED" {
				t.Errorf("error code %q, want COORDINATOR_RESTARTED (%s)", final.Error.Code, final.Error.Message)
			}

			again := submit(t, c, file, "--idempotency-key", key)
			if !again.AlreadyExists || again.RunID != first.RunID {
				t.Errorf("resubmission with key %q = %+v, want already_exists with run %s", key, again, first.RunID)
			}
			// A waiting `run` with the key returns the earlier (failed) run too.
			res := cli(t, c, "run", "-o", "json", "--idempotency-key", key, file)
			requireNoPanic(t, res)
			if rr := res.MustRunJSON(t); rr.RunID != first.RunID || res.ExitCode != 1 || rr.State != "FAILED" {
				t.Errorf("run with key %q: run %s state %s exit %d, want %s FAILED exit 1\n%s",
					key, rr.RunID, rr.State, res.ExitCode, first.RunID, res)
			}
			n := 0
			for _, r := range listRuns(t, c) {
				if r.Pipeline == p.Name {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d runs of pipeline %s, want 1", n, p.Name)
			}
			if got := dst.Int64(t, "SELECT count(*) FROM pg_class WHERE relname = $1", "restart_"+backend); got != 0 {
				if rows := dst.Count(t, e2etest.Ident("public", "restart_"+backend)); rows != 0 {
					t.Errorf("destination has %d rows from the interrupted run", rows)
				}
			}
		})
	}
}
