package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// contractEnv is an embedded-mode environment whose connectors are the
// real ones plus the test modules test-careless (ignores partitions,
// projection, sync mode, stream name and batch limits), test-noreactor
// (built without -buildmode=c-shared) and test-faulty.
func contractEnv(t *testing.T) e2etest.Env {
	t.Helper()
	dir := t.TempDir()
	link := func(path string) {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("missing %s: run make build wasm", path)
		}
		if err := os.Symlink(path, filepath.Join(dir, filepath.Base(path))); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range e2etest.Connectors {
		link(filepath.Join(e2etest.ConnectorsDir(t), id+".wasm"))
	}
	for _, id := range []string{"test-careless", "test-noreactor", "test-faulty"} {
		link(filepath.Join(e2etest.RepoRoot(t), "dist", "testconnectors", id+".wasm"))
	}
	return e2etest.NewEmbeddedEnv(t).With("RAPIDBYTE_CONNECTORS_DIR", dir)
}

// carelessYAML is a test-careless → dest-postgres pipeline; source is the
// source section's config and streams lines, resources the resources
// section's body.
func carelessYAML(name string, dst *e2etest.DB, source, resources string) string {
	return fmt.Sprintf(`version: "1.0"
pipeline: %s
source:
  use: test-careless
%s
destination:
  use: dest-postgres
  config: {host: %s, port: %d, user: %s, database: %s, schema: public}
resources:
  max_retries: 0
%s
`, name, source, dst.Host, dst.Port, dst.User, dst.Name, resources)
}

// TestContractEnforced runs the deliberately careless test-careless
// source through the real CLI, coordinator, worker and dest-postgres: the
// platform, not the connector, keeps the contract. check and run refuse an
// unknown stream (with a suggestion), an unsupported sync mode, a config
// its manifest's config_schema rejects and partitioning the manifest does
// not declare, each with its YAML line and before any row moves; a run
// that passes gets only the projected columns, in batches within the
// limits; a module built without -buildmode=c-shared is refused at load;
// run errors name the embedded worker, not its socket.
func TestContractEnforced(t *testing.T) {
	e2etest.RequireBinaries(t)
	dst := e2etest.NewDatabase(t, "rb_e2a_contract_dst")
	env := contractEnv(t)

	rejected := []struct {
		name, source, resources string
		want                    []string
	}{
		{name: "unknown_stream", source: "  config: {count: 10}\n  streams:\n    - {name: numbrs}",
			want: []string{":7:14: source.streams[0].name", `no stream "numbrs"`, `did you mean "numbers"?`}},
		{name: "sync_mode", source: "  config: {count: 10}\n  streams:\n    - {name: numbers, sync_mode: incremental, cursor_field: n}",
			want: []string{":7:34: source.streams[0].sync_mode", "supports sync_mode full_refresh, not incremental"}},
		{name: "config_schema", source: "  config: {count: -5}\n  streams:\n    - {name: numbers}",
			want: []string{":5:19: source.config.count", "minimum", "-5", "config_schema of test-careless"}},
		{name: "partition_key", source: "  config: {count: 50000}\n  streams:\n    - {name: numbers, partition_key: n}",
			resources: "  parallelism: 4",
			want:      []string{":7:38: source.streams[0].partition_key", "does not support partitioned reads", "capabilities.partitions"}},
		{name: "partitions", source: "  config: {count: 50000}\n  streams:\n    - {name: numbers, partitions: 4}",
			want: []string{":7:35: source.streams[0].partitions", "does not support partitioned reads"}},
		{name: "unknown_column", source: "  config: {count: 10}\n  streams:\n    - {name: numbers, columns: [n, lable]}",
			want: []string{"source.streams[0].columns", `no column "lable"`, `did you mean "label"?`}},
	}
	for _, tc := range rejected {
		t.Run("check_"+tc.name, func(t *testing.T) {
			name := "rb_e2a_contract_" + tc.name
			file := e2etest.WriteFile(t, name+".yaml", carelessYAML(name, dst, tc.source, tc.resources))
			res := e2etest.RunCLI(t, env, "check", file)
			if res.ExitCode == 0 || strings.Contains(res.Stdout, "All checks passed") {
				t.Fatalf("check passed a pipeline that breaks the contract\n%s", res)
			}
			for _, w := range tc.want {
				contains(t, "check output", res.Stdout, w)
			}
			contains(t, "check output", res.Stdout, filepath.Base(file)+":")
		})
		t.Run("run_"+tc.name, func(t *testing.T) {
			name := "rb_e2a_contract_" + tc.name
			file := e2etest.WriteFile(t, name+".yaml", carelessYAML(name, dst, tc.source, tc.resources))
			res := e2etest.RunCLI(t, env, "run", "-o", "json", file)
			if res.ExitCode != 1 {
				t.Fatalf("exit %d, want 1\n%s", res.ExitCode, res)
			}
			rr := res.MustRunJSON(t)
			if rr.State != "FAILED" || rr.Error == nil || rr.Error.Category != "config" || rr.Attempts != 0 || rr.RecordsRead != 0 {
				t.Fatalf("want FAILED with a config error before any attempt, got %s attempts %d records %d error %+v",
					rr.State, rr.Attempts, rr.RecordsRead, rr.Error)
			}
			for _, w := range tc.want {
				contains(t, "run error", rr.Error.Message, w)
			}
			if n := dst.Int64(t, "SELECT count(*) FROM pg_class WHERE relname = 'numbers'"); n != 0 {
				t.Errorf("a rejected run created the destination table")
			}
		})
	}

	t.Run("projection_and_batch_limits", func(t *testing.T) {
		const rows = 100_000
		name := "rb_e2a_contract_projection"
		file := e2etest.WriteFile(t, name+".yaml", carelessYAML(name, dst,
			fmt.Sprintf("  config: {count: %d}\n  streams:\n    - {name: numbers, columns: [n], destination_table: projected}", rows),
			"  max_batch_rows: 1000"))
		check := e2etest.RunCLI(t, env, "check", file)
		check.RequireExit(t, 0)
		rr, _ := runOK(t, env, file)
		wantEqual(t, "records written", rr.RecordsWritten, uint64(rows))
		if cols := dst.Columns(t, "public", "projected"); slices.Contains(cols, "label") || slices.Contains(cols, "extra") || !slices.Contains(cols, "n") {
			t.Errorf("destination columns %v: want n and none of the columns the stream did not ask for", cols)
		}
		wantEqual(t, "destination rows", dst.Count(t, "public.projected"), int64(rows))
		wantEqual(t, "sum(n)", dst.Int64(t, "SELECT sum(n) FROM public.projected"), int64(rows*(rows-1)/2))
	})

	t.Run("module_without_initialize", func(t *testing.T) {
		name := "rb_e2a_contract_noreactor"
		raw := strings.Replace(carelessYAML(name, dst, "  config: {}\n  streams:\n    - {name: numbers}", ""), "use: test-careless", "use: test-noreactor", 1)
		file := e2etest.WriteFile(t, name+".yaml", raw)
		res := e2etest.RunCLI(t, env, "run", "-o", "json", file)
		if res.ExitCode != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.ExitCode, res)
		}
		rr := res.MustRunJSON(t)
		if rr.Error == nil || !strings.Contains(rr.Error.Message, "-buildmode=c-shared") || strings.Contains(rr.Error.Message, "notInitialized") {
			t.Fatalf("want a load error that says to build with -buildmode=c-shared, got %+v", rr.Error)
		}
		check := e2etest.RunCLI(t, env, "check", file)
		contains(t, "check output", check.Stdout, "-buildmode=c-shared")
	})

	t.Run("run_error_names_the_worker", func(t *testing.T) {
		name := "rb_e2a_contract_worker"
		raw := strings.Replace(carelessYAML(name, dst, "  config: {mode: fail, category: data}\n  streams:\n    - {name: faults}", ""),
			"use: test-careless", "use: test-faulty", 1)
		file := e2etest.WriteFile(t, name+".yaml", raw)
		res := e2etest.RunCLI(t, env, "run", "-o", "json", file)
		if res.ExitCode != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.ExitCode, res)
		}
		rr := res.MustRunJSON(t)
		if rr.Error == nil || !strings.Contains(rr.Error.Message, "on embedded worker") || strings.Contains(rr.Error.Message, ".sock") {
			t.Fatalf("want the error to name the embedded worker, got %+v", rr.Error)
		}
	})
}
