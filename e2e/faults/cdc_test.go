package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestCDCWorkerKilled streams a backlog of changes on a coordinator with
// two workers and SIGKILLs the worker applying them once the destination
// has committed part of the backlog: the run retries from the last
// persisted LSN on the other worker and the destination equals the source.
func TestCDCWorkerKilled(t *testing.T) {
	const pipeline, slot = "rb_cdc_kill", "rapidbyte_rb_cdc_kill"
	e2etest.RequireBinaries(t)
	src := e2etest.NewLogicalDatabase(t, "rb_cdc_kill_src")
	dst := e2etest.NewLogicalDatabase(t, "rb_cdc_kill_dst")
	dropSlot := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = src.Pool(t).Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		_, _ = src.Pool(t).Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	}
	dropSlot()
	t.Cleanup(dropSlot)
	src.Exec(t, `CREATE TABLE item (id bigint PRIMARY KEY, v bigint NOT NULL, pad text);
INSERT INTO item SELECT g, 0, md5(g::text) FROM generate_series(1, 4000) g;`)

	c := startCluster(t, clusterOpts{workers: 2})
	file := e2etest.Pipeline{Name: pipeline, Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		Streams:   []e2etest.Stream{{Name: "item", SyncMode: "cdc"}},
		Resources: map[string]any{"max_batch_rows": 500, "checkpoint_interval_rows": 1}}.Write(t)
	first := e2etest.RunCLI(t, c.Env(), "run", "-o", "json", file)
	first.RequireExit(t, 0)

	for i := 0; i < 150; i++ {
		src.Exec(t, fmt.Sprintf("UPDATE item SET v = v + 1, pad = md5(pad) WHERE id %% 2 = %d", i%2))
	}
	var start int64
	dst.QueryRow(t, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = $1", []any{pipeline}, &start)
	run := startRun(t, c, file)
	deadline := time.Now().Add(90 * time.Second)
	for dst.Int64(t, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = $1", pipeline) <= start {
		if time.Now().After(deadline) {
			t.Fatal("the destination committed nothing of the backlog")
		}
		select {
		case res := <-run:
			t.Fatalf("run finished before the worker could be killed\n%s", res)
		case <-time.After(10 * time.Millisecond):
		}
	}
	var victim *e2etest.Process
	for _, port := range logicalBackendPorts(t, dst) {
		if p := ownerOfPort(t, port, c.Workers); p != nil {
			victim = p
			break
		}
	}
	if victim == nil {
		t.Fatal("no worker holds the destination connection mid-stream")
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	rr := finishRun(t, run)
	t.Logf("killed %s; retry_count %d, first attempt error: %s", victim.Name, rr.RetryCount, rr.AttemptErrors[0].Error.Message)
	e2etest.RequireSameTable(t, src, dst, "item", "item", "r.id")
}

// logicalBackendPorts lists the client ports of Rapidbyte's connections to
// db (on the wal_level=logical server).
func logicalBackendPorts(t *testing.T, db *e2etest.DB) []int64 {
	t.Helper()
	rows, err := db.Pool(t).Query(context.Background(), `SELECT client_port::bigint FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'rapidbyte' AND client_port IS NOT NULL`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestCDCFollowInterrupted interrupts `run --follow` while a writer keeps
// changing the source: a SIGINT stops the follow at a checkpoint (the CLI
// exits 0, the run SUCCEEDED); then a second follow is killed outright
// (SIGKILL: the CLI and its embedded coordinator die mid-stream). The
// next run waits for the dead run's lease, resumes from what was persisted
// and the destination equals the source: the destination skips what it
// already committed past the persisted position, and no change is lost.
func TestCDCFollowInterrupted(t *testing.T) {
	const pipeline, slot = "rb_cdc_sigint", "rapidbyte_rb_cdc_sigint"
	e2etest.RequireBinaries(t)
	src := e2etest.NewLogicalDatabase(t, "rb_cdc_sigint_src")
	dst := e2etest.NewLogicalDatabase(t, "rb_cdc_sigint_dst")
	dropSlot := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = src.Pool(t).Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		_, _ = src.Pool(t).Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	}
	dropSlot()
	t.Cleanup(dropSlot)
	src.Exec(t, `CREATE TABLE item (id bigint PRIMARY KEY, v bigint NOT NULL);
INSERT INTO item SELECT g, 0 FROM generate_series(1, 2000) g;`)
	file := e2etest.Pipeline{Name: pipeline, Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		Streams: []e2etest.Stream{{Name: "item", SyncMode: "cdc"}}}.Write(t)
	env := e2etest.NewEmbeddedEnv(t)

	// A writer: each transaction bumps v of a few rows, inserts one row and
	// deletes another.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writerErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		pool := src.Pool(t)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sql := fmt.Sprintf(`BEGIN; UPDATE item SET v = v + 1 WHERE id %% 97 = %d; INSERT INTO item VALUES (%d, 0); DELETE FROM item WHERE id = %d; COMMIT`,
				i%97, 10000+i, 10000+i-50)
			if _, err := pool.Exec(context.Background(), sql); err != nil {
				writerErr = err
				return
			}
		}
	}()
	committed := func() int64 {
		var v int64
		_ = dst.Pool(t).QueryRow(context.Background(), "SELECT coalesce(max(lsn), 0) FROM _rapidbyte_cdc_positions WHERE pipeline = $1", pipeline).Scan(&v)
		return v
	}
	// follow starts `run --follow` and returns its result channel and a
	// function that sends it sig.
	follow := func() (<-chan e2etest.Result, func(sig syscall.Signal)) {
		ch := make(chan e2etest.Result, 1)
		go func() { ch <- e2etest.RunCLI(t, env, "run", "--follow", "-o", "json", file) }()
		interrupt := func(sig syscall.Signal) {
			pid := 0
			for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); {
				pid = cliPid(t, file)
			}
			if pid == 0 {
				t.Fatal("cannot find the rapidbyte run --follow process")
			}
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatalf("signal rapidbyte: %v", err)
			}
		}
		return ch, interrupt
	}
	// waitStreaming waits until the follow committed changes past from.
	waitStreaming := func(ch <-chan e2etest.Result, from int64) {
		deadline := time.Now().Add(3 * time.Minute)
		for committed() <= from || dst.Int64(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'item'") == 0 {
			select {
			case res := <-ch:
				t.Fatalf("run --follow ended early\n%s", res)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("the follow committed nothing")
			}
		}
	}

	// One SIGINT: the follow stops at a checkpoint.
	ch, interrupt := follow()
	waitStreaming(ch, 0)
	waitStreaming(ch, committed())
	interrupt(syscall.SIGINT)
	res := <-ch
	res.RequireExit(t, 0)
	rr := res.MustRunJSON(t)
	if rr.State != "SUCCEEDED" {
		t.Fatalf("state after SIGINT = %s, want SUCCEEDED\n%s", rr.State, res)
	}

	// SIGKILL: the CLI, its embedded coordinator and worker die
	// mid-stream, the run left behind RUNNING.
	ch, interrupt = follow()
	waitStreaming(ch, committed())
	interrupt(syscall.SIGKILL)
	res = <-ch
	if res.Signal == "" {
		t.Fatalf("run --follow survived SIGKILL\n%s", res)
	}

	close(stop)
	wg.Wait()
	if writerErr != nil {
		t.Fatalf("source writer: %v", writerErr)
	}
	// The next run waits for the abandoned run's lease, then resumes from
	// the persisted position.
	next := e2etest.RunCLI(t, env, "run", "--wait", "-o", "json", file)
	next.RequireExit(t, 0)
	e2etest.RequireSameTable(t, src, dst, "item", "item", "r.id")
}

// cliPid returns the pid of the `rapidbyte run --follow ... file` process,
// or 0.
func cliPid(t *testing.T, file string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "rapidbyte" && slices.Contains(args, "--follow") && args[len(args)-1] == file {
			return pid
		}
	}
	return 0
}
