package faults

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// midRows is the size of the table streamed while a fault is injected:
// 600k rows by default, so the suite stays within CI's budget on 2 cores;
// RAPIDBYTE_E2E_MID_ROWS=2000000 runs the 2M-row version (about
// 3 minutes here).
var midRows = func() int {
	if n, err := strconv.Atoi(os.Getenv("RAPIDBYTE_E2E_MID_ROWS")); err == nil && n > 0 {
		return n
	}
	return 600_000
}()

// midResources keep the source in step with the destination (few batches in
// flight) and commit every 100k rows, so a fault lands mid-stream after the
// first commit, with most of the table still to come, and the retry must
// resume exactly.
var midResources = map[string]any{
	"max_retries":              3,
	"checkpoint_interval_rows": 100_000,
	"max_batch_rows":           16_384,
	"max_inflight_batches":     4,
}

// seedBig creates public.big with midRows rows of several types.
func seedBig(t *testing.T, db *e2etest.DB) {
	t.Helper()
	db.Exec(t, `CREATE TABLE big (id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz, flag boolean);
		INSERT INTO big SELECT g, 'name-' || g, g * 1.25, '2024-01-01'::timestamptz + g * interval '1 second',
			CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END
		FROM generate_series(1, `+itoa(midRows)+`) g;
		ANALYZE big`)
}

// committed returns the highest records_committed of the destination's
// watermark table (0 while it does not exist).
func committed(t *testing.T, db *e2etest.DB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	err := db.Pool(t).QueryRow(ctx, `SELECT coalesce(max(records_committed), 0)::bigint FROM public._rapidbyte_watermarks`).Scan(&n)
	if err != nil {
		return 0 // not created yet
	}
	return n
}

// startRun runs `rapidbyte run -o json file` in the background.
func startRun(t *testing.T, c *e2etest.Cluster, file string, extra ...string) <-chan e2etest.Result {
	t.Helper()
	ch := make(chan e2etest.Result, 1)
	args := append([]string{"run", "-o", "json"}, extra...)
	go func() { ch <- e2etest.RunCLI(t, c.Env(), append(args, file)...) }()
	return ch
}

// waitMidStream waits until dst committed at least one checkpoint (and not
// the whole table) while the run is still going.
func waitMidStream(t *testing.T, dst *e2etest.DB, run <-chan e2etest.Result) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case res := <-run:
			t.Fatalf("run finished before the fault was injected; make the stream longer\n%s", res)
		default:
		}
		if n := committed(t, dst); n > 0 {
			if n >= int64(midRows) {
				t.Fatalf("destination committed all %d rows before the fault was injected", n)
			}
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatal("destination committed nothing within 90s")
}

// connectionOwner returns the worker holding a connection to the first of
// dbs that any worker is connected to. It looks again for a moment when none
// is (a connection between two statements, a loaded machine), and fails the
// test if the run ends first.
func connectionOwner(t *testing.T, dbs []*e2etest.DB, workers []*e2etest.Process, run <-chan e2etest.Result) *e2etest.Process {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, db := range dbs {
			for _, port := range backendPorts(t, db.Name) {
				if p := ownerOfPort(t, port, workers); p != nil {
					return p
				}
			}
		}
		select {
		case res := <-run:
			t.Fatalf("run finished before a worker serving it could be killed; make the stream longer\n%s", res)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("no worker holds a connection to the source or destination database mid-stream")
	return nil
}

// finishRun waits for the background run and requires SUCCEEDED with at
// least one retry.
func finishRun(t *testing.T, run <-chan e2etest.Result) *e2etest.RunResult {
	t.Helper()
	res := <-run
	requireNoPanic(t, res)
	res.RequireExit(t, 0)
	rr := res.MustRunJSON(t)
	if rr.State != "SUCCEEDED" {
		t.Fatalf("state %s, want SUCCEEDED\n%s", rr.State, res)
	}
	if rr.RetryCount < 1 || len(rr.AttemptErrors) < 1 {
		t.Fatalf("retry_count %d with %d attempt errors, want >= 1 (the fault did not hit the run?)\n%s",
			rr.RetryCount, len(rr.AttemptErrors), res)
	}
	for _, ae := range rr.AttemptErrors {
		if ae.Error == nil || !ae.Error.Retryable || ae.Error.Category == "" {
			t.Errorf("attempt %d error %+v, want a classified retryable error", ae.Attempt, ae.Error)
		}
	}
	return rr
}

// TestMidStreamFaults streams midRows rows and injects a fault mid-stream:
// a worker serving the stream is killed with SIGKILL (append, replace,
// upsert; coordinator + 2 workers), or the source's PostgreSQL backend is
// terminated. The run must succeed with retry_count >= 1 and the
// destination must equal the source exactly.
func TestMidStreamFaults(t *testing.T) {
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_e2b_mid_src")
	seedBig(t, src)
	srcSum := e2etest.TableChecksum(t, src, "public.big", "r.id")

	for _, mode := range []string{"append", "replace", "upsert"} {
		t.Run("worker_sigkill/"+mode, func(t *testing.T) {
			t.Parallel()
			dst := e2etest.NewDatabase(t, "rb_e2b_kill_"+mode)
			switch mode {
			case "replace": // rows that must disappear with the swap
				dst.Exec(t, `CREATE TABLE big (id bigint, name text, amount numeric(12,2), ts timestamptz, flag boolean);
					INSERT INTO big VALUES (-1, 'junk', 0, now(), true), (1, 'stale', 0, now(), false)`)
			case "upsert": // rows whose values must be overwritten
				dst.Exec(t, `CREATE TABLE big (id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz, flag boolean);
					INSERT INTO big SELECT g, 'stale', 0, now(), NULL FROM generate_series(1, 1000) g`)
			}
			c := startCluster(t, clusterOpts{workers: 2})
			p := e2etest.Pipeline{Name: "rb_e2b_kill_" + mode, Source: e2etest.PGConfig(src, "public"),
				Destination: e2etest.PGConfig(dst, "public"), Streams: []e2etest.Stream{{Name: "big"}},
				WriteMode: mode, Resources: midResources}
			if mode == "upsert" {
				p.PrimaryKey = []string{"id"}
			}
			run := startRun(t, c, p.Write(t))
			waitMidStream(t, dst, run)

			// Kill the worker holding a connector's PostgreSQL connection:
			// the source's first for append, the destination's first otherwise.
			order := []*e2etest.DB{dst, src}
			if mode == "append" {
				order = []*e2etest.DB{src, dst}
			}
			victim := connectionOwner(t, order, c.Workers, run)
			if err := victim.Kill(); err != nil {
				t.Fatal(err)
			}
			t.Logf("killed %s (%s) after %d rows committed", victim.Name, victim.Addr, committed(t, dst))

			rr := finishRun(t, run)
			if victim.Running() {
				t.Errorf("%s is running again", victim.Name)
			}
			if got := e2etest.TableChecksum(t, dst, "public.big", "r.id"); got != srcSum {
				e2etest.RequireSameTable(t, src, dst, "public.big", "public.big", "r.id")
				t.Fatalf("destination %s, source %s", got, srcSum)
			}
			if n := dst.Int64(t, `SELECT count(*) FROM pg_class WHERE relname LIKE '\_rb\_stage\_%'`); n != 0 {
				t.Errorf("%d staging tables left behind", n)
			}
			t.Logf("retry_count %d, first attempt error: %s", rr.RetryCount, rr.AttemptErrors[0].Error.Message)
		})
	}

	t.Run("source_backend_terminated", func(t *testing.T) {
		t.Parallel()
		dst := e2etest.NewDatabase(t, "rb_e2b_term_dst")
		c := startCluster(t, clusterOpts{workers: 1})
		p := e2etest.Pipeline{Name: "rb_e2b_term", Source: e2etest.PGConfig(src, "public"),
			Destination: e2etest.PGConfig(dst, "public"), Streams: []e2etest.Stream{{Name: "big"}},
			WriteMode: "append", Resources: midResources}
		run := startRun(t, c, p.Write(t))
		waitMidStream(t, dst, run)
		killed := adminQueryInts(t, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::bigint
			FROM pg_stat_activity WHERE datname = $1 AND application_name = 'rapidbyte'`, src.Name)
		if killed[0] < 1 {
			t.Fatal("no source backend to terminate mid-read")
		}
		rr := finishRun(t, run)
		first := rr.AttemptErrors[0].Error
		if first.Category != "transient_db" && first.Category != "transient_network" {
			t.Errorf("first attempt error category %q, want transient_db or transient_network: %s", first.Category, first.Message)
		}
		if !strings.Contains(first.Message, "57P01") && !strings.Contains(strings.ToLower(first.Message), "terminat") {
			t.Logf("note: first attempt error does not mention the termination: %s", first.Message)
		}
		if got := e2etest.TableChecksum(t, dst, "public.big", "r.id"); got != srcSum {
			e2etest.RequireSameTable(t, src, dst, "public.big", "public.big", "r.id")
			t.Fatalf("destination %s, source %s", got, srcSum)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
