package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

const (
	// numStreams source tables of rowsPerStream rows each make the pipeline.
	numStreams    = 8
	rowsPerStream = 100_000
	totalRows     = numStreams * rowsPerStream
)

// workerRun is one worker's share of a run (metric deltas).
type workerRun struct {
	Worker      string `json:"worker"`
	Addr        string `json:"addr"`
	RowsRead    int64  `json:"rows_read"`
	RowsWritten int64  `json:"rows_written"`
	Copies      int64  `json:"copy_streams"`
	Killed      bool   `json:"killed,omitempty"`
}

// runReport is one run for the JSON report.
type runReport struct {
	Workers      int         `json:"workers"`
	Rows         uint64      `json:"rows"`
	RunSecs      float64     `json:"run_secs"`
	WallSecs     float64     `json:"wall_secs"`
	RowsPerSec   float64     `json:"rows_per_sec"`
	RetryCount   uint32      `json:"retry_count"`
	PerWorker    []workerRun `json:"per_worker"`
	KilledAtRows int64       `json:"killed_at_committed_rows,omitempty"`
}

// streamNames are the source tables s1..s8.
func streamNames() []string {
	var out []string
	for i := range numStreams {
		out = append(out, fmt.Sprintf("s%d", i+1))
	}
	return out
}

// seed creates the numStreams source tables; table i holds ids offset by
// i*10^7 so that no two tables are equal.
func seed(t *testing.T, db *e2etest.DB) {
	t.Helper()
	for i, name := range streamNames() {
		db.Exec(t, fmt.Sprintf(`CREATE TABLE %[1]s (id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz, flag boolean);
			INSERT INTO %[1]s SELECT g + %[2]d, 'name-%[1]s-' || g, g * 1.25, '2024-01-01'::timestamptz + g * interval '1 second',
				CASE WHEN g %% 3 = 0 THEN NULL ELSE g %% 2 = 0 END
			FROM generate_series(1, %[3]d) g;
			ANALYZE %[1]s`, name, i*10_000_000, rowsPerStream))
	}
}

// pipelineFor returns the 8-stream pipeline src → dst (append, parallelism 8).
func pipelineFor(name string, src, dst *e2etest.DB, resources map[string]any) e2etest.Pipeline {
	p := e2etest.Pipeline{Name: name, Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		WriteMode: "append", Resources: map[string]any{"parallelism": numStreams, "max_retries": 3}}
	for k, v := range resources {
		p.Resources[k] = v
	}
	for _, s := range streamNames() {
		p.Streams = append(p.Streams, e2etest.Stream{Name: s})
	}
	return p
}

// requireExact fails unless every destination table equals its source
// (count and md5 of the rows ordered by id).
func requireExact(t *testing.T, src, dst *e2etest.DB, want map[string]e2etest.Checksum) {
	t.Helper()
	for _, s := range streamNames() {
		table := e2etest.Ident("public", s)
		if got := e2etest.TableChecksum(t, dst, table, "r.id"); got != want[s] {
			e2etest.RequireSameTable(t, src, dst, table, table, "r.id")
			t.Errorf("destination %s: %s, source %s", s, got, want[s])
		}
	}
}

// finish parses a CLI run and requires exit 0 and SUCCEEDED.
func finish(t *testing.T, res e2etest.Result) *e2etest.RunResult {
	t.Helper()
	res.RequireExit(t, 0)
	rr := res.MustRunJSON(t)
	if rr.State != "SUCCEEDED" {
		t.Fatalf("run state %s, want SUCCEEDED\n%s", rr.State, res)
	}
	return rr
}

// TestScaleOut runs the 8-stream pipeline through a coordinator and 1, 2
// and 4 workers behind one DNS name, then kills one of 2 workers mid-run.
func TestScaleOut(t *testing.T) {
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_sc_src")
	seed(t, src)
	want := map[string]e2etest.Checksum{}
	for _, s := range streamNames() {
		want[s] = e2etest.TableChecksum(t, src, e2etest.Ident("public", s), "r.id")
		if want[s].Count != rowsPerStream {
			t.Fatalf("source %s has %d rows, want %d", s, want[s].Count, rowsPerStream)
		}
	}
	var reports []runReport

	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers_%d", n), func(t *testing.T) {
			dst := e2etest.NewDatabase(t, fmt.Sprintf("rb_sc_dst_%d", n))
			c := startCluster(t, n)
			file := pipelineFor(fmt.Sprintf("rb_sc_scale_%d", n), src, dst, nil).Write(t)
			before := c.scrapeAll(t)
			res := e2etest.RunCLI(t, c.Env(), "run", "-o", "json", file)
			rr := finish(t, res)
			after := c.scrapeAll(t)
			requireExact(t, src, dst, want)
			if rr.RecordsRead != totalRows || rr.RecordsWritten != totalRows {
				t.Errorf("records read %d written %d, want %d each", rr.RecordsRead, rr.RecordsWritten, totalRows)
			}
			if rr.RetryCount != 0 {
				t.Errorf("retry_count %d, want 0 (no fault injected)", rr.RetryCount)
			}

			rep := runReport{Workers: n, Rows: rr.RecordsWritten, RunSecs: rr.DurationSecs,
				WallSecs: res.Duration.Seconds(), RetryCount: rr.RetryCount}
			if rr.DurationSecs > 0 {
				rep.RowsPerSec = float64(rr.RecordsWritten) / rr.DurationSecs
			}
			var sum workerRun
			readers, writers, busy := 0, 0, 0
			var relayed int64
			for i, w := range c.Workers {
				d := after[i].sub(before[i])
				wr := workerRun{Worker: w.Name, Addr: w.Addr, RowsRead: d.RowsRead, RowsWritten: d.RowsWritten, Copies: d.Copies}
				rep.PerWorker = append(rep.PerWorker, wr)
				sum.RowsRead += d.RowsRead
				sum.RowsWritten += d.RowsWritten
				sum.Copies += d.Copies
				relayed += d.DoGet + d.DoPut
				if d.RowsRead > 0 {
					readers++
				}
				if d.RowsWritten > 0 {
					writers++
				}
				if d.Copies > 0 {
					busy++
				}
				t.Logf("%s (%s): read %d and wrote %d rows in %d CopyStream", w.Name, w.Addr, d.RowsRead, d.RowsWritten, d.Copies)
			}
			// Every row moved was counted by exactly one worker, once.
			if sum.RowsRead != totalRows || sum.RowsWritten != totalRows {
				t.Errorf("workers' rapidbyte_worker_rows_total deltas: read %d, written %d; want %d each", sum.RowsRead, sum.RowsWritten, totalRows)
			}
			// One CopyStream per stream, none relayed.
			if sum.Copies != numStreams || relayed != 0 {
				t.Errorf("workers started %d CopyStream and %d relayed Flight halves, want %d and none", sum.Copies, relayed, numStreams)
			}
			// The work spreads: placed by load over healthy workers, every
			// worker copies streams.
			if busy != n {
				t.Errorf("%d of %d workers copied a stream, want all", busy, n)
			}
			t.Logf("N=%d: %d rows in %.2fs (coordinator) / %.2fs (CLI wall): %.0f rows/s on %d CPUs",
				n, rr.RecordsWritten, rr.DurationSecs, res.Duration.Seconds(), rep.RowsPerSec, runtime.NumCPU())
			reports = append(reports, rep)
			if n >= 2 {
				t.Run("reads_and_writes_spread", func(t *testing.T) { requireOpSpread(t, rep.PerWorker, readers, writers) })
			}
		})
	}

	t.Run("failover_kill_worker", func(t *testing.T) {
		const n = 2
		dst := e2etest.NewDatabase(t, "rb_sc_dst_kill")
		c := startCluster(t, n)
		// Small batches and frequent commits: the kill lands after some
		// commits, and the retry must resume each stream exactly.
		file := pipelineFor("rb_sc_kill", src, dst, map[string]any{
			"checkpoint_interval_rows": 20_000, "max_batch_rows": 5_000, "max_inflight_batches": 2,
		}).Write(t)
		before := c.scrapeAll(t)
		runCh := make(chan e2etest.Result, 1)
		go func() { runCh <- e2etest.RunCLI(t, c.Env(), "run", "-o", "json", file) }()

		committed := waitCommitted(t, dst, runCh)
		// The victim is a worker with connector instances running now.
		victim := -1
		mid := c.scrapeAll(t)
		for i := range c.Workers {
			if mid[i].Guests > 0 && (victim < 0 || mid[i].Guests > mid[victim].Guests) {
				victim = i
			}
		}
		if victim < 0 {
			t.Fatalf("no worker runs a connector mid-run (guest instances %+v)", mid)
		}
		survivor := 1 - victim
		if err := c.Workers[victim].Kill(); err != nil {
			t.Fatal(err)
		}
		atKill := mid[survivor]
		t.Logf("SIGKILLed %s (%s, %d guests) with %d rows committed", c.Workers[victim].Name, c.Workers[victim].Addr, mid[victim].Guests, committed)

		res := <-runCh
		rr := finish(t, res)
		afterSurvivor, err := scrape(t.Context(), c.Workers[survivor].MetricsURL)
		if err != nil {
			t.Fatalf("%s: %v", c.Workers[survivor].Name, err)
		}
		if rr.RetryCount < 1 || len(rr.AttemptErrors) < 1 {
			t.Errorf("retry_count %d with %d attempt errors, want >= 1 (did the kill hit the run?)\n%s", rr.RetryCount, len(rr.AttemptErrors), res)
		}
		for _, ae := range rr.AttemptErrors {
			if ae.Error == nil || !ae.Error.Retryable {
				t.Errorf("attempt %d error %+v, want a retryable error", ae.Attempt, ae.Error)
			} else {
				t.Logf("attempt %d failed: [%s] %s", ae.Attempt, ae.Error.Category, ae.Error.Message)
			}
		}
		if c.Workers[victim].Running() {
			t.Errorf("%s is running again", c.Workers[victim].Name)
		}
		requireExact(t, src, dst, want)
		// The survivor took over the interrupted streams after the kill.
		d := afterSurvivor.sub(atKill)
		if d.Copies < 1 || d.RowsWritten < 1 {
			t.Errorf("after the kill %s started %d CopyStream and wrote %d rows, want the retried streams",
				c.Workers[survivor].Name, d.Copies, d.RowsWritten)
		}
		rep := runReport{Workers: n, Rows: uint64(dst.Int64(t, sumCountSQL())), RunSecs: rr.DurationSecs,
			WallSecs: res.Duration.Seconds(), RetryCount: rr.RetryCount, KilledAtRows: committed}
		if rr.DurationSecs > 0 {
			rep.RowsPerSec = float64(rep.Rows) / rr.DurationSecs
		}
		for i, w := range c.Workers {
			st := afterSurvivor
			if i == victim {
				st = mid[i] // its last scrape before the kill
			}
			dw := st.sub(before[i])
			rep.PerWorker = append(rep.PerWorker, workerRun{Worker: w.Name, Addr: w.Addr, RowsRead: dw.RowsRead,
				RowsWritten: dw.RowsWritten, Copies: dw.Copies, Killed: i == victim})
		}
		t.Logf("failover: SUCCEEDED after %d retries in %.2fs; survivor %s wrote %d rows after the kill",
			rr.RetryCount, rr.DurationSecs, c.Workers[survivor].Name, d.RowsWritten)
		reports = append(reports, rep)
	})

	writeReport(t, reports)
}

// requireOpSpread requires that reads and writes each ran on at least two
// workers (round_robin picks for a stream's DoGet and DoPut once put every
// read on half of an even number of workers, every write on the other half;
// the coordinator now places each stream's CopyStream by load).
func requireOpSpread(t *testing.T, per []workerRun, readers, writers int) {
	t.Helper()
	if readers >= 2 && writers >= 2 {
		return
	}
	t.Errorf("%d workers read and %d wrote, want >= 2 each: %+v", readers, writers, per)
}

// sumCountSQL counts the rows of every destination table.
func sumCountSQL() string {
	q := "SELECT 0"
	for _, s := range streamNames() {
		q += " + (SELECT count(*) FROM " + e2etest.Ident("public", s) + ")"
	}
	return q
}

// waitCommitted waits until dst committed some rows (and not all) while the
// run is still going, and returns the rows committed.
func waitCommitted(t *testing.T, dst *e2etest.DB, run <-chan e2etest.Result) int64 {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case res := <-run:
			t.Fatalf("run finished before the worker was killed; make the streams longer\n%s", res)
		default:
		}
		if n := committedRows(t, dst); n > 0 {
			if n >= totalRows {
				t.Fatalf("destination committed all %d rows before the kill", n)
			}
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("destination committed nothing within 90s")
	return 0
}

// committedRows sums records_committed of dest-postgres's watermarks (0
// while the table does not exist).
func committedRows(t *testing.T, db *e2etest.DB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	if err := db.Pool(t).QueryRow(ctx, `SELECT coalesce(sum(records_committed), 0)::bigint FROM public._rapidbyte_watermarks`).Scan(&n); err != nil {
		return 0 // not created yet
	}
	return n
}

// writeReport writes the runs as JSON to $RAPIDBYTE_SCALE_JSON, or to
// /tmp/rb-team/scale.json when that directory exists.
func writeReport(t *testing.T, reports []runReport) {
	t.Helper()
	path := os.Getenv("RAPIDBYTE_SCALE_JSON")
	if path == "" {
		if fi, err := os.Stat("/tmp/rb-team"); err != nil || !fi.IsDir() {
			return
		}
		path = filepath.Join("/tmp/rb-team", "scale.json")
	}
	doc := map[string]any{
		"test": "e2e/scale TestScaleOut", "streams": numStreams, "rows_per_stream": rowsPerStream,
		"cpus": runtime.NumCPU(), "workers_target": "dns://<in-test DNS>/" + workersName + ":<port>",
		"failed": t.Failed(), "runs": reports, "at": time.Now().UTC().Format(time.RFC3339),
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Errorf("encode report: %v", err)
		return
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Errorf("write report: %v", err)
		return
	}
	t.Logf("report written to %s", path)
}
