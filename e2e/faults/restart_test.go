package faults

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// leaseTTL is the coordinators' --lease-ttl in the ownership tests: short,
// so a takeover after a SIGKILL comes within seconds.
const leaseTTL = 3 * time.Second

// waitCommitted waits until dst committed at least one checkpoint, and not
// the whole table (up to 3 minutes: a first compile of the connector modules
// on a loaded 2-core machine can take most of that).
func waitCommitted(t *testing.T, dst *e2etest.DB) {
	t.Helper()
	waitUntil(t, 180*time.Second, 30*time.Millisecond, "a first commit mid-stream", func() (bool, string) {
		n := committed(t, dst)
		if n >= int64(midRows) {
			t.Fatalf("destination committed all %d rows before the fault was injected", n)
		}
		return n > 0, "nothing committed"
	})
}

// requireTakenOver checks a run finished SUCCEEDED after a takeover: its
// first attempt ended with code (COORDINATOR_TAKEOVER, or
// COORDINATOR_SHUTDOWN for a hand-off) naming the stopped coordinator, and
// attempts and retry_count continued.
func requireTakenOver(t *testing.T, rr *e2etest.RunResult, from, code string) {
	t.Helper()
	if rr.State != "SUCCEEDED" {
		t.Fatalf("run %s: state %s error %+v, want SUCCEEDED", rr.RunID, rr.State, rr.Error)
	}
	if rr.Attempts < 2 || rr.RetryCount != rr.Attempts-1 || len(rr.AttemptErrors) < 1 {
		t.Fatalf("attempts %d retry_count %d attempt errors %d, want >= 2 attempts, retry_count = attempts-1",
			rr.Attempts, rr.RetryCount, len(rr.AttemptErrors))
	}
	first := rr.AttemptErrors[0]
	if first.Attempt != 1 || first.Error == nil || first.Error.Code != code || !strings.Contains(first.Error.Message, from) {
		t.Errorf("attempt 1 error %+v, want %s naming %s", first.Error, code, from)
	}
}

// TestCoordinatorRestartResumes SIGKILLs the coordinator (SQLite state) in
// the middle of a 600k-row append, starts it again with the same address
// (so the same owner id), and requires the run to resume from its
// acknowledged checkpoint and finish with an exact copy, as one run whose
// history shows the takeover; resubmitting with the run's idempotency key
// returns it.
func TestCoordinatorRestartResumes(t *testing.T) {
	t.Parallel()
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_e2b_own_restart_src")
	seedBig(t, src)
	dst := e2etest.NewDatabase(t, "rb_e2b_own_restart_dst")
	c := startCluster(t, clusterOpts{workers: 1, coordArgs: []string{"--lease-ttl", leaseTTL.String()}})
	p := e2etest.Pipeline{Name: "rb_e2b_own_restart", Source: e2etest.PGConfig(src, "public"),
		Destination: e2etest.PGConfig(dst, "public"), Streams: []e2etest.Stream{{Name: "big"}}, Resources: midResources}
	file := p.Write(t)
	key := "rb-e2b-own-restart"
	first := submit(t, c, file, "--idempotency-key", key)
	waitCommitted(t, dst)

	if err := c.Coordinator.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, 50*time.Millisecond, "coordinator exited", func() (bool, string) {
		return !c.Coordinator.Running(), "running"
	})
	t.Logf("killed the coordinator after %d rows committed", committed(t, dst))
	restarted := time.Now()
	c.Coordinator.Start(t)
	if err := c.Coordinator.WaitHealthy(e2etest.HealthTimeout); err != nil {
		t.Fatalf("restarted coordinator: %v\n%s", err, c.Coordinator.LogTail(40))
	}

	var final *e2etest.RunResult
	waitUntil(t, 90*time.Second, 200*time.Millisecond, "the run finishes after the restart", func() (bool, string) {
		final = runStatus(t, c, first.RunID)
		return final.State != "RUNNING" && final.State != "PENDING", final.State
	})
	t.Logf("run %s finished %.1fs after the restart: %s, attempts %d", first.RunID, time.Since(restarted).Seconds(), final.State, final.Attempts)
	requireTakenOver(t, final, c.Coordinator.Addr, "COORDINATOR_TAKEOVER")
	e2etest.RequireSameTable(t, src, dst, "public.big", "public.big", "r.id")

	again := submit(t, c, file, "--idempotency-key", key)
	if !again.AlreadyExists || again.RunID != first.RunID {
		t.Errorf("resubmission with key %q = %+v, want already_exists with run %s", key, again, first.RunID)
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
}

// TestCoordinatorFailover runs two coordinators on one PostgreSQL state
// store and two workers and stops the coordinator driving a 600k-row append
// mid-stream: with SIGKILL the other takes the run over once its lease
// expires; with SIGTERM (a rollout) the stopping coordinator hands the run
// off and the other takes it at its next scan. Either way the run finishes
// with an exact copy. The pipeline's destination user travels as a --var
// value, which the coordinators keep only encrypted (--state-key) for the
// takeover.
func TestCoordinatorFailover(t *testing.T) {
	t.Parallel()
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_e2b_own_fo_src")
	seedBig(t, src)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		name := map[syscall.Signal]string{syscall.SIGKILL: "sigkill", syscall.SIGTERM: "sigterm"}[sig]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dst := e2etest.NewDatabase(t, "rb_e2b_own_fo_dst_"+name)
			state := e2etest.NewDatabase(t, "rb_e2b_own_fo_state_"+name)
			stateKey := "e2e-state-key-0123456789"
			c := startCluster(t, clusterOpts{workers: 2, coordArgs: []string{"--state", state.DSN, "--lease-ttl", leaseTTL.String(), "--state-key", stateKey}})
			b := c.AddCoordinator(t, "coordinator-b")

			dstCfg := e2etest.PGConfig(dst, "public")
			dstCfg["user"] = "${RB_E2E_DST_USER}"
			p := e2etest.Pipeline{Name: "rb_e2b_own_failover", Source: e2etest.PGConfig(src, "public"),
				Destination: dstCfg, Streams: []e2etest.Stream{{Name: "big"}}, Resources: midResources}
			file := p.Write(t)
			first := submit(t, c, file, "--var", "RB_E2E_DST_USER="+dst.User)
			waitCommitted(t, dst)

			if err := c.Coordinator.Signal(sig); err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			t.Logf("sent %s to coordinator %s after %d rows committed", name, c.Coordinator.Addr, committed(t, dst))

			viaB := e2etest.Env{"RAPIDBYTE_COORDINATOR": b.Addr, "RAPIDBYTE_AUTH_TOKEN": c.Token}
			status := func() *e2etest.RunResult {
				res := e2etest.RunCLI(t, viaB, "status", "-o", "json", first.RunID)
				if res.ExitCode != 0 && res.ExitCode != 1 {
					t.Fatalf("status through %s\n%s", b.Name, res)
				}
				return res.MustRunJSON(t)
			}
			var final *e2etest.RunResult
			waitUntil(t, 120*time.Second, 100*time.Millisecond, "the other coordinator finishes the run", func() (bool, string) {
				final = status()
				return final.State != "RUNNING" && final.State != "PENDING", final.State
			})
			// The takeover's time is when the second attempt started, as the
			// state store recorded it (not when a status poll first saw it).
			started := state.Int64(t, `SELECT started_at FROM attempts WHERE run_id = $1 AND number = 2`, first.RunID)
			takeover := time.UnixMicro(started).Sub(stopped)
			t.Logf("takeover %.1fs after %s (lease ttl %s); run finished %.1fs after it", takeover.Seconds(), name, leaseTTL, time.Since(stopped).Seconds())
			want := "COORDINATOR_TAKEOVER"
			if sig == syscall.SIGTERM {
				want = "COORDINATOR_SHUTDOWN"
			}
			requireTakenOver(t, final, c.Coordinator.Addr, want)
			if limit := leaseTTL + leaseTTL/3 + 5*time.Second; takeover > limit {
				t.Errorf("takeover took %s, want under %s (lease ttl + scan interval + slack)", takeover, limit)
			}
			e2etest.RequireSameTable(t, src, dst, "public.big", "public.big", "r.id")
			if stored := state.Strings(t, `SELECT coalesce(encode(resume_data, 'escape'), '') FROM runs WHERE id = $1`, first.RunID); len(stored) != 1 || stored[0] == "" || strings.Contains(stored[0], "RB_E2E_DST_USER") {
				t.Errorf("resume data %q: want it stored, encrypted", stored)
			}
		})
	}
}

// TestConcurrentRunsOnePipeline starts `rapidbyte run` of a pipeline
// (embedded coordinator, SQLite state) and, while it copies, a second one of
// the same pipeline on the same state file, with its own in-process
// coordinator: the second is rejected naming the active run, and the
// destination holds every row exactly once.
func TestConcurrentRunsOnePipeline(t *testing.T) {
	t.Parallel()
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_e2b_own_conc_src")
	seedBig(t, src)
	dst := e2etest.NewDatabase(t, "rb_e2b_own_conc_dst")
	env := e2etest.NewEmbeddedEnv(t)
	p := e2etest.Pipeline{Name: "rb_e2b_own_concurrent", Source: e2etest.PGConfig(src, "public"),
		Destination: e2etest.PGConfig(dst, "public"), Streams: []e2etest.Stream{{Name: "big"}}, Resources: midResources}
	file := p.Write(t)

	firstDone := make(chan e2etest.Result, 1)
	go func() { firstDone <- e2etest.RunCLI(t, env, "run", "-o", "json", file) }()
	waitUntil(t, 180*time.Second, 30*time.Millisecond, "the first run commits", func() (bool, string) {
		select {
		case res := <-firstDone:
			t.Fatalf("the first run ended before the second started\n%s", res)
		default:
		}
		return committed(t, dst) > 0, "nothing committed"
	})
	// The first run must still be active when the second asks, however
	// slowly the second process starts: its next commit waits for the
	// watermark table, which the test holds until the second has answered.
	hold := holdWatermarks(t, dst)
	select {
	case res := <-firstDone:
		t.Fatalf("the first run ended before the second started\n%s", res)
	default:
	}
	second := e2etest.RunCLI(t, env, "run", "-o", "json", file)
	hold()
	requireNoPanic(t, second)
	first := <-firstDone
	first.RequireExit(t, 0)
	rr := first.MustRunJSON(t)
	if second.ExitCode == 0 {
		t.Fatalf("the second run of the pipeline succeeded while the first was active\n%s", second)
	}
	if !strings.Contains(second.Stderr, "already has an active run "+rr.RunID) {
		t.Errorf("second run's error does not name the active run %s\n%s", rr.RunID, second)
	}
	t.Logf("second run: exit %d: %s", second.ExitCode, strings.TrimSpace(second.Stderr))
	e2etest.RequireSameTable(t, src, dst, "public.big", "public.big", "r.id")
}

// holdWatermarks locks db's watermark table against writes until the
// returned func is called: a destination cannot commit its next checkpoint
// meanwhile, so its run stays active.
func holdWatermarks(t *testing.T, db *e2etest.DB) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tx, err := db.Pool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release := func() { _ = tx.Rollback(context.Background()) }
	t.Cleanup(release)
	if _, err := tx.Exec(ctx, "LOCK TABLE public._rapidbyte_watermarks IN SHARE MODE"); err != nil {
		t.Fatalf("lock the watermark table: %v", err)
	}
	return release
}

// TestEmbeddedKilledRunIsSuperseded SIGKILLs a `rapidbyte run` (embedded
// coordinator, SQLite state) in the middle of a replace-mode copy, then runs
// the pipeline again with --wait: the new run waits until the dead run's
// lease expires, supersedes it (the dead run ends FAILED with
// RUN_SUPERSEDED naming the new one) and leaves an exact copy.
func TestEmbeddedKilledRunIsSuperseded(t *testing.T) {
	t.Parallel()
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_e2b_own_kill_src")
	seedBig(t, src)
	dst := e2etest.NewDatabase(t, "rb_e2b_own_kill_dst")
	env := e2etest.NewEmbeddedEnv(t)
	p := e2etest.Pipeline{Name: "rb_e2b_own_killed_cli", Source: e2etest.PGConfig(src, "public"),
		Destination: e2etest.PGConfig(dst, "public"), Streams: []e2etest.Stream{{Name: "big"}},
		WriteMode: "replace", Resources: midResources}
	file := p.Write(t)

	first := &e2etest.Process{Name: "cli-1", Path: e2etest.BinPath(t, "rapidbyte"), Args: []string{"run", "-o", "json", file},
		Env: env, LogPath: filepath.Join(t.TempDir(), "cli-1.log")}
	first.Start(t)
	t.Cleanup(func() { _ = first.Kill() })
	waitCommitted(t, dst)
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	res := e2etest.RunCLI(t, env, "run", "--wait", "-o", "json", file)
	requireNoPanic(t, res)
	res.RequireExit(t, 0)
	rr := res.MustRunJSON(t)
	if rr.State != "SUCCEEDED" || !strings.Contains(res.Stderr, "waiting: ") || !strings.Contains(res.Stderr, "already has an active run") {
		t.Fatalf("second run: state %s, want SUCCEEDED after waiting for the dead run's lease\n%s", rr.State, res)
	}
	t.Logf("second run finished %.1fs after the kill; %s", time.Since(killed).Seconds(), strings.TrimSpace(res.Stderr))
	e2etest.RequireSameTable(t, src, dst, "public.big", "public.big", "r.id")

	list := e2etest.RunCLI(t, env, "runs", "-o", "json")
	list.RequireExit(t, 0)
	var runs []e2etest.RunResult
	if err := json.Unmarshal([]byte(list.Stdout), &runs); err != nil {
		t.Fatalf("decode runs: %v\n%s", err, list)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2\n%s", len(runs), list)
	}
	for _, r := range runs {
		if r.RunID == rr.RunID {
			continue
		}
		if r.State != "FAILED" || r.Error == nil || r.Error.Code != "RUN_SUPERSEDED" || !strings.Contains(r.Error.Message, rr.RunID) {
			t.Errorf("killed run %s: %s %+v, want FAILED RUN_SUPERSEDED naming %s", r.RunID, r.State, r.Error, rr.RunID)
		}
	}
}
