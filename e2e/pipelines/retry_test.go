package pipelines

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// retryRows is the size of the table whose load is interrupted.
const retryRows = 300000

// seedRetry creates big(id bigint primary key, ...) with retryRows rows.
func seedRetry(t *testing.T, db *e2etest.DB) {
	t.Helper()
	db.Exec(t, `
CREATE TABLE big (id bigint PRIMARY KEY, label text NOT NULL, n int, at timestamptz);
INSERT INTO big SELECT g, 'row ' || g, g % 1000, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, `+itoa(retryRows)+`) g;`)
}

// retryPipeline loads big in small checkpoints so a terminated destination
// backend interrupts it mid-run with commits on both sides of the failure.
func retryPipeline(p pair, name, writeMode string) e2etest.Pipeline {
	pl := p.pipeline(name, "public", writeMode, e2etest.Stream{Name: "big"})
	if writeMode == "upsert" {
		pl.PrimaryKey = []string{"id"}
	}
	pl.Resources = map[string]any{"max_retries": 3, "checkpoint_interval_rows": 15000, "max_batch_rows": 10000}
	return pl
}

// startCopyKiller terminates the destination's COPY backend once, after a
// first mid-run commit.
func startCopyKiller(t *testing.T, p pair) *e2etest.BackendKiller {
	t.Helper()
	return e2etest.StartBackendKiller(t, p.dst, "COPY", e2etest.CommittedAtLeast("public", 1))
}

// requireKilled fails unless k terminated a backend.
func requireKilled(t *testing.T, k *e2etest.BackendKiller) {
	t.Helper()
	k.Stop()
	pid, query, _, err := k.Killed()
	if pid == 0 {
		t.Fatalf("no destination COPY backend was terminated mid-run (last poll error: %v)", err)
	}
	t.Logf("terminated destination backend %d running %q", pid, query)
}

// requireExactBig checks the destination holds big exactly once.
func requireExactBig(t *testing.T, p pair) {
	t.Helper()
	wantEqual(t, "destination count", p.dst.Count(t, "big"), retryRows)
	wantEqual(t, "duplicated ids", p.dst.Int64(t, "SELECT count(*) - count(DISTINCT id) FROM big"), 0)
	e2etest.RequireSameTable(t, p.src, p.dst, "big", "big", "r.id")
}

// TestRetryAfterDestinationBackendTerminated terminates the destination's
// COPY backend mid-run (append mode, text output): the run must succeed
// after one retry, say "  Retries:         1", and load every row exactly once.
func TestRetryAfterDestinationBackendTerminated(t *testing.T) {
	p := newPair(t, "retry")
	seedRetry(t, p.src)
	file := retryPipeline(p, "e2e_retry", "append").Write(t)
	k := startCopyKiller(t, p)
	res := e2etest.RunCLI(t, e2etest.NewEmbeddedEnv(t), "run", file)
	requireKilled(t, k)
	res.RequireExit(t, 0)
	contains(t, "text output", res.Stdout, "\n  Retries:         1\n")
	rr := res.MustRunJSON(t) // the @@BENCH_JSON@@ line
	wantEqual(t, "state", rr.State, "SUCCEEDED")
	wantEqual(t, "retry_count", rr.RetryCount, 1)
	wantEqual(t, "attempts", rr.Attempts, 2)
	requireExactBig(t, p)
}

// TestRetryModesJSON repeats the interruption, read from `-o json` (which
// must also report the failed attempt's transient error), for upsert (the
// COPY into the session temp table, and the INSERT ... ON CONFLICT merge),
// replace (COPY into the staging table) and incremental append; a later
// incremental run must then read only new rows.
func TestRetryModesJSON(t *testing.T) {
	for _, tc := range []struct{ name, mode, kill string }{
		{"upsert_copy", "upsert", "COPY"},
		{"upsert_merge", "upsert", "INSERT"},
		{"replace", "replace", "COPY"},
		{"incremental", "append", "COPY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "retry"+tc.name)
			seedRetry(t, p.src)
			pl := retryPipeline(p, "e2e_retry_"+tc.name, tc.mode)
			if tc.name == "incremental" {
				pl.Streams[0] = e2etest.Stream{Name: "big", SyncMode: "incremental", CursorField: "at", TieBreakerField: "id"}
			}
			file := pl.Write(t)
			env := e2etest.NewEmbeddedEnv(t)
			k := e2etest.StartBackendKiller(t, p.dst, tc.kill, e2etest.CommittedAtLeast("public", 1))
			res := e2etest.RunCLI(t, env, "run", "-o", "json", file)
			requireKilled(t, k)
			res.RequireExit(t, 0)
			rr := res.MustRunJSON(t)
			wantEqual(t, "state", rr.State, "SUCCEEDED")
			wantEqual(t, "retry_count", rr.RetryCount, 1)
			wantEqual(t, "attempts", rr.Attempts, 2)
			if len(rr.AttemptErrors) != 1 || rr.AttemptErrors[0].Error == nil {
				t.Errorf("attempt_errors = %+v, want one with an error", rr.AttemptErrors)
			} else if e := rr.AttemptErrors[0].Error; (e.Category != "transient_network" && e.Category != "transient_db") || !e.Retryable {
				t.Errorf("attempt error = %+v, want a retryable transient_network or transient_db error", e)
			}
			requireExactBig(t, p)
			if tc.mode == "replace" {
				wantEqual(t, "staging tables left", p.dst.Int64(t, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_rb\\_stage\\_%'"), 0)
			}
			if tc.name == "incremental" {
				p.src.Exec(t, `INSERT INTO big SELECT g, 'late ' || g, 0, timestamptz '2030-01-01 00:00:00+00' FROM generate_series(`+itoa(retryRows+1)+`, `+itoa(retryRows+100)+`) g`)
				next, _ := runOK(t, env, file)
				wantEqual(t, "next incremental run records_read", next.RecordsRead, 100)
				wantEqual(t, "destination count after next run", p.dst.Count(t, "big"), retryRows+100)
				e2etest.RequireSameTable(t, p.src, p.dst, "big", "big", "r.id")
			}
		})
	}
}
