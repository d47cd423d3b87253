package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// golden compares got with testdata/name byte for byte; with -update it
// writes got there instead.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// TestEmbeddedOutputs checks the outputs the seed's plan specifies against
// real PostgreSQL through the embedded coordinator and worker: discover of a
// source-only pipeline (golden text and catalog JSON), a stream pattern
// over a schema of several tables (discover, check and run, summaries in
// pipeline order), and a run that fails after retries (its summary with the
// Retries line before the error).
func TestEmbeddedOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded integration test needs PostgreSQL and the connector modules")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	connectors := filepath.Join(root, "dist", "connectors")
	for _, id := range []string{"source-postgres", "dest-postgres"} {
		if _, err := os.Stat(filepath.Join(connectors, id+".wasm")); err != nil {
			t.Skipf("%s.wasm not built (run make wasm): %v", id, err)
		}
	}
	dsn := os.Getenv("RAPIDBYTE_TEST_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	pg := admin.Config()

	src := createDB(ctx, t, admin, "rb_cli_out_src")
	dst := createDB(ctx, t, admin, "rb_cli_out_dst")
	mustExec(ctx, t, src, `CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, score double precision,
		balance numeric(12,2), updated_at timestamptz, tags text[])`)
	mustExec(ctx, t, src, `INSERT INTO users SELECT g, 'user'||g||'@example.com', g*1.5, g, now(), NULL FROM generate_series(1, 100) g`)
	mustExec(ctx, t, src, `CREATE TABLE events (payload jsonb)`)
	mustExec(ctx, t, src, `CREATE SCHEMA shop`)
	for i, table := range []string{"t1", "t2", "t10", "t11", "audit"} {
		mustExec(ctx, t, src, fmt.Sprintf(`CREATE TABLE shop.%s (id bigint PRIMARY KEY, v text)`, table))
		mustExec(ctx, t, src, fmt.Sprintf(`INSERT INTO shop.%s SELECT g, 'v'||g FROM generate_series(1, %d) g`, table, 10*(i+1)))
	}

	conn := func(db, schema string) string {
		return fmt.Sprintf(`{host: %s, port: %d, user: %s, password: "${RB_CLI_PG_PASSWORD}", database: %s, schema: %s}`,
			pg.Host, pg.Port, pg.User, db, schema)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	env := map[string]string{
		EnvConnectorsDir: connectors,
		EnvState:         "sqlite://" + filepath.ToSlash(filepath.Join(dir, "state.db")),
		EnvCacheDir:      cacheDir(root),
	}
	pw := "--var=RB_CLI_PG_PASSWORD=" + pg.Password

	t.Run("discover a source-only pipeline", func(t *testing.T) {
		file := write("source_only.yaml", `version: "1.0"
pipeline: rb_cli_discover
source:
  use: source-postgres
  config: `+conn("rb_cli_out_src", "public")+"\n")
		r := invokeSlow(t, env, "discover", file, pw)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		golden(t, "discover_source_only.golden", r.stdout)
	})

	patterns := `version: "1.0"
pipeline: rb_cli_patterns
source:
  use: source-postgres
  config: ` + conn("rb_cli_out_src", "shop") + `
  streams:
    - {name: "shop.t*", exclude: [shop.t11], sync_mode: full_refresh}
    - {name: audit}
destination:
  use: dest-postgres
  config: ` + conn("rb_cli_out_dst", "public") + `
  write_mode: replace
`
	patternFile := write("patterns.yaml", patterns)
	t.Run("discover a pattern pipeline", func(t *testing.T) {
		r := invokeSlow(t, env, "discover", patternFile, pw)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		var streams []string
		for _, l := range lines(r.stdout) {
			if s, ok := strings.CutPrefix(l, "  Stream: "); ok {
				streams = append(streams, s)
			}
		}
		if diff := cmp.Diff([]string{"shop.t1", "shop.t2", "shop.t10", "shop.audit"}, streams); diff != "" {
			t.Errorf("streams (-want +got):\n%s\nstdout:\n%s", diff, r.stdout)
		}
		if n := strings.Count(r.stdout, "    Selected by: shop.t*\n"); n != 3 || !strings.Contains(r.stdout, "  Streams: 4\n") {
			t.Errorf("want 4 streams, 3 selected by the pattern:\n%s", r.stdout)
		}
	})
	t.Run("check a pattern pipeline", func(t *testing.T) {
		r := invokeSlow(t, env, "check", patternFile, pw)
		if r.code != 0 || !strings.Contains(r.stdout, `4 stream(s): "shop.t*" selects shop.t1, shop.t2, shop.t10`) {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("run a pattern pipeline", func(t *testing.T) {
		r := invokeSlow(t, env, "run", patternFile, pw)
		if r.code != 0 {
			t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		t.Logf("pattern run output:\n%s", r.stdout)
		var order []string
		for _, l := range lines(r.stdout) {
			if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(l, "    ") && f[2] == "read," {
				order = append(order, f[0])
			}
		}
		if diff := cmp.Diff([]string{"t1", "t2", "t10", "audit"}, order); diff != "" {
			t.Errorf("summary streams (-want +got):\n%s\nstdout:\n%s", diff, r.stdout)
		}
		// The connectors measured their phases; the bench JSON carries them.
		payload, _ := strings.CutPrefix(lines(r.stdout)[len(lines(r.stdout))-1], "@@BENCH_JSON@@")
		var bench map[string]any
		if err := json.Unmarshal([]byte(payload), &bench); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"source_connect_secs", "source_query_secs", "source_fetch_secs", "dest_connect_secs", "dest_flush_secs", "dest_commit_secs"} {
			if v, ok := bench[k].(float64); !ok || v <= 0 {
				t.Errorf("bench JSON %s = %v, want a measured time", k, bench[k])
			}
		}
		for table, want := range map[string]int{"t1": 10, "t2": 20, "t10": 30, "audit": 50} {
			var n int
			if err := dst.QueryRow(ctx, "SELECT count(*) FROM public."+table).Scan(&n); err != nil || n != want {
				t.Errorf("destination %s has %d rows (%v), want %d", table, n, err, want)
			}
		}
		var t11 bool
		if err := dst.QueryRow(ctx, "SELECT to_regclass('public.t11') IS NOT NULL").Scan(&t11); err != nil || t11 {
			t.Errorf("excluded table t11 was copied (%v)", err)
		}
	})
	t.Run("a pattern that selects nothing", func(t *testing.T) {
		file := write("nothing.yaml", strings.Replace(patterns, `"shop.t*"`, `"shop.zz*"`, 1))
		r := invokeSlow(t, env, "discover", file, pw)
		if r.code == 0 || !strings.Contains(r.stderr, `stream pattern "shop.zz*" selects no table`) {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		r = invokeSlow(t, env, "run", file, pw)
		if r.code == 0 || !strings.Contains(r.stderr, `stream pattern "shop.zz*" selects no table`) {
			t.Errorf("run: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a run that fails after retries", func(t *testing.T) {
		// Nothing listens on port 1: every attempt fails to connect, a
		// retryable transient_network error, so the run retries twice.
		file := write("unreachable.yaml", fmt.Sprintf(`version: "1.0"
pipeline: rb_cli_unreachable
source:
  use: source-postgres
  config: {host: 127.0.0.1, port: 1, user: nobody, database: nothing}
  streams: [{name: users}]
destination:
  use: dest-postgres
  config: %s
resources: {max_retries: 2}
`, conn("rb_cli_out_dst", "public")))
		r := invokeSlow(t, env, "run", file, pw)
		t.Logf("failed run output:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		if r.code != ExitFailure {
			t.Errorf("exit %d, want %d", r.code, ExitFailure)
		}
		out := lines(r.stdout)
		if len(out) == 0 || out[0] != "Pipeline 'rb_cli_unreachable' failed after 3 attempt(s)." {
			t.Fatalf("stdout does not start with the failed run's headline:\n%s", r.stdout)
		}
		load, retries := strings.Index(r.stdout, "\n  Module load:"), strings.Index(r.stdout, "\n  Retries:         2\n")
		bench := strings.Index(r.stdout, "\n@@BENCH_JSON@@{")
		if load < 0 || retries < load || bench < retries {
			t.Errorf("want the Retries line after the module-load line and before @@BENCH_JSON@@:\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "    attempt 1: ") || !strings.Contains(r.stdout, "(transient_network/") {
			t.Errorf("attempt errors not listed:\n%s", r.stdout)
		}
		if errs := lines(r.stderr); len(errs) != 1 || !strings.HasPrefix(errs[0], "error: run ") {
			t.Errorf("stderr = %q, want one error line", r.stderr)
		}
	})
}
