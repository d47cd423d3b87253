package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestEmbeddedPostgres runs discover, check and run of a small PostgreSQL to
// PostgreSQL pipeline through the real embedded coordinator and worker, and the
// new-user mistakes against them.
func TestEmbeddedPostgres(t *testing.T) {
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
			missing(t, "%s.wasm not built (run make wasm): %v", id, err)
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
		missing(t, "PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	pgcfg := admin.Config()

	src := createDB(ctx, t, admin, "rb_cli_src")
	dst := createDB(ctx, t, admin, "rb_cli_dst")
	const rows = 5000
	mustExec(ctx, t, src, `CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, score double precision, updated_at timestamptz)`)
	mustExec(ctx, t, src, fmt.Sprintf(`INSERT INTO users SELECT g, 'user'||g||'@example.com', g*1.5, now() FROM generate_series(1, %d) g`, rows))

	pipeline := func(table, sourceID string) string {
		return fmt.Sprintf(`version: "1.0"
pipeline: rb_cli_it
source:
  use: %s
  config: {host: %s, port: %d, user: %s, password: "${RB_CLI_PG_PASSWORD}", database: rb_cli_src, schema: public}
  streams:
    - {name: %s, sync_mode: full_refresh}
destination:
  use: dest-postgres
  config: {host: %s, port: %d, user: %s, password: "${RB_CLI_PG_PASSWORD}", database: rb_cli_dst, schema: public}
  write_mode: append
`, sourceID, pgcfg.Host, pgcfg.Port, pgcfg.User, table, pgcfg.Host, pgcfg.Port, pgcfg.User)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "pg_to_pg.yaml")
	if err := os.WriteFile(file, []byte(pipeline("users", "source-postgres")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		EnvConnectorsDir: connectors,
		EnvState:         "sqlite://" + filepath.ToSlash(filepath.Join(dir, "state.db")),
		EnvCacheDir:      cacheDir(root),
	}
	pw := "--var=RB_CLI_PG_PASSWORD=" + pgcfg.Password

	t.Run("discover", func(t *testing.T) {
		r := invokeSlow(t, env, "discover", file, pw)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "\n  Stream: public.users\n") || !strings.Contains(r.stdout, "\n\n@@CATALOG_JSON@@{\n") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "\n      id int64 NOT NULL\n") {
			t.Errorf("id column not listed as int64 NOT NULL:\n%s", r.stdout)
		}
	})
	t.Run("run", func(t *testing.T) {
		r := invokeSlow(t, env, "run", file, pw)
		if r.code != 0 {
			t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		out := lines(r.stdout)
		payload, ok := strings.CutPrefix(out[len(out)-1], "@@BENCH_JSON@@")
		if !ok {
			t.Fatalf("no bench trailer:\n%s", r.stdout)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatal(err)
		}
		if m["records_read"] != float64(rows) || m["records_written"] != float64(rows) || m["state"] != "SUCCEEDED" {
			t.Errorf("bench JSON = %v", m)
		}
		var n int
		if err := dst.QueryRow(ctx, `SELECT count(*) FROM public.users`).Scan(&n); err != nil || n != rows {
			t.Errorf("destination has %d rows (%v), want %d", n, err, rows)
		}
		t.Logf("run output:\n%s", r.stdout)
	})
	t.Run("unknown table", func(t *testing.T) {
		bad := filepath.Join(dir, "bad_table.yaml")
		if err := os.WriteFile(bad, []byte(pipeline("userz", "source-postgres")), 0o600); err != nil {
			t.Fatal(err)
		}
		r := invokeSlow(t, env, "-o", "json", "run", bad, pw)
		errLines := lines(r.stderr)
		if r.code == 0 || len(errLines) != 1 || !strings.Contains(errLines[0], "userz") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		t.Logf("unknown table: %s", r.stderr)
	})
	t.Run("unknown connector", func(t *testing.T) {
		bad := filepath.Join(dir, "bad_connector.yaml")
		if err := os.WriteFile(bad, []byte(pipeline("users", "source-postgress")), 0o600); err != nil {
			t.Fatal(err)
		}
		r := invokeSlow(t, env, "check", bad, pw)
		if r.code == 0 || !strings.Contains(r.stderr, "dest-postgres, source-postgres") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		t.Logf("unknown connector: %s", r.stderr)
	})
	t.Run("yaml syntax error", func(t *testing.T) {
		bad := filepath.Join(dir, "bad_syntax.yaml")
		if err := os.WriteFile(bad, []byte("version: \"1.0\"\npipeline: x\nsource:\n  use: source-postgres\n   config: {\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := invokeSlow(t, env, "run", bad)
		if r.code == 0 || !strings.HasPrefix(r.stderr, "error: "+bad+":") || len(lines(r.stderr)) != 1 {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		t.Logf("yaml syntax error: %s", r.stderr)
	})
}

// invokeSlow is invoke with the real embedded coordinator and worker.
func invokeSlow(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return invokeWith(t, env, false, nil, args...)
}

func cacheDir(root string) string {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return d
	}
	return filepath.Join(root, "build", "wazero-cache")
}

// createDB creates a fresh database, drops it when the test ends, and returns a connection to it.
func createDB(ctx context.Context, t *testing.T, admin *pgx.Conn, name string) *pgx.Conn {
	t.Helper()
	mustExec(ctx, t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	mustExec(ctx, t, admin, "CREATE DATABASE "+name)
	cfg := admin.Config().Copy()
	cfg.Database = name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close(context.Background())
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return conn
}

func mustExec(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// missing skips t for a prerequisite that is not there, or fails it under
// CI=true (as .ci/run runs), where every prerequisite must be present.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
