package pipelines

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestNonRetryableFailures runs pipelines that cannot succeed: each must
// fail at once (exit 1, state FAILED, no retry, one attempt, none when
// the plan rejects it) with a
// classified error in the JSON and one "error: " line on stderr: unknown
// role (auth), unknown table or database (config), values an existing
// destination column cannot take (data).
func TestNonRetryableFailures(t *testing.T) {
	p := newPair(t, "fail")
	p.src.Exec(t, `CREATE TABLE present (id int PRIMARY KEY, v text); INSERT INTO present VALUES (1, 'a'), (2, 'b');
CREATE TABLE wide (id bigint PRIMARY KEY, v text); INSERT INTO wide VALUES (1, 'a'), (2147483648, 'b');
CREATE TABLE notuuid (id int PRIMARY KEY, v text); INSERT INTO notuuid VALUES (1, 'not-a-uuid');`)
	// Existing destination tables whose column types cannot take the values.
	p.dst.Exec(t, `CREATE SCHEMA preset; CREATE TABLE preset.wide (id int, v text); CREATE TABLE preset.notuuid (id int, v uuid);`)
	env := e2etest.NewEmbeddedEnv(t)

	unknownRole := p.pipeline("e2e_fail_auth", "public", "append", e2etest.Stream{Name: "present"})
	unknownRole.Source["user"] = "rb_e2a_no_such_role"
	unknownTable := p.pipeline("e2e_fail_config", "public", "append", e2etest.Stream{Name: "absent_table"})
	unknownDB := p.pipeline("e2e_fail_db", "public", "append", e2etest.Stream{Name: "present"})
	unknownDB.Destination["database"] = "rb_e2a_no_such_db"
	outOfRange := p.pipeline("e2e_fail_range", "preset", "append", e2etest.Stream{Name: "wide"})
	badUUID := p.pipeline("e2e_fail_uuid", "preset", "append", e2etest.Stream{Name: "notuuid"})

	for _, tc := range []struct {
		name     string
		pipeline e2etest.Pipeline
		category string
		// attempts is 0 for a pipeline rejected when the run is planned
		// (a stream the source's Discover does not list).
		attempts uint32
	}{
		{"unknown source role", unknownRole, "auth", 1},
		{"unknown source table", unknownTable, "config", 0},
		{"unknown destination database", unknownDB, "config", 1},
		{"bigint value out of range of an existing integer column", outOfRange, "data", 1},
		{"text that is no uuid into an existing uuid column", badUUID, "data", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.pipeline.Write(t)
			res := e2etest.RunCLI(t, env, "run", "-o", "json", file)
			res.RequireExit(t, 1)
			rr := res.MustRunJSON(t)
			wantEqual(t, "state", rr.State, "FAILED")
			wantEqual(t, "retry_count", rr.RetryCount, 0)
			wantEqual(t, "attempts", rr.Attempts, tc.attempts)
			if rr.Error == nil {
				t.Fatalf("run JSON has no error\n%s", res)
			}
			wantEqual(t, "error category", rr.Error.Category, tc.category)
			wantEqual(t, "error retryable", rr.Error.Retryable, false)
			if rr.Error.Message == "" {
				t.Errorf("error message is empty\n%s", res)
			}
			contains(t, "stderr", res.Stderr, "error: ")
			contains(t, "stderr", res.Stderr, "("+tc.category+"/")

			text := e2etest.RunCLI(t, env, "run", file)
			text.RequireExit(t, 1)
			contains(t, "text stderr", text.Stderr, "error: run ")
			// A failed run prints its summary (attempt count, no Retries
			// line without retries) before the error.
			contains(t, "text stdout", text.Stdout, fmt.Sprintf("failed after %d attempt(s).\n", tc.attempts))
			contains(t, "text stdout", text.Stdout, "\n@@BENCH_JSON@@{")
			if strings.Contains(text.Stdout, "Retries:") {
				t.Errorf("a run without retries printed a Retries line:\n%s", text)
			}
		})
	}
	wantEqual(t, "destination tables created", p.dst.Int64(t, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 0)
	wantEqual(t, "rows written into preset tables", p.dst.Int64(t, "SELECT (SELECT count(*) FROM preset.wide) + (SELECT count(*) FROM preset.notuuid)"), 0)
}
