package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/rapidbyte/rapidbyte/cli/internal/embedded"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

func testCatalog() *rapidbytev1.Catalog {
	return &rapidbytev1.Catalog{Streams: []*rapidbytev1.Stream{
		{
			Namespace: "public", Name: "users",
			SupportedSyncModes:      []rapidbytev1.SyncMode{rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH, rapidbytev1.SyncMode_SYNC_MODE_INCREMENTAL},
			DefaultCursorField:      "updated_at",
			CursorCandidates:        []string{"id", "updated_at"},
			SourceDefinedPrimaryKey: []string{"id"},
			Columns: []*rapidbytev1.Column{
				{Name: "id", ArrowType: "int64", SourceType: "bigint"},
				{Name: "email", ArrowType: "utf8", Nullable: true, SourceType: "text"},
				{Name: "updated_at", ArrowType: "timestamp[us, UTC]", Nullable: true, SourceType: "timestamptz"},
			},
		},
		{Namespace: "public", Name: "events", SupportedSyncModes: []rapidbytev1.SyncMode{rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH},
			Columns: []*rapidbytev1.Column{{Name: "payload", ArrowType: "utf8", Nullable: true}}},
	}}
}

func TestDiscover(t *testing.T) {
	f := &fakeCoordinator{catalog: testCatalog()}
	addr := serve(t, f, "")
	file := writePipeline(t, pipelineYAML)

	t.Run("text", func(t *testing.T) {
		r := invoke(t, nil, "--coordinator", addr, "discover", file, "--var", "PG_PASSWORD=x")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		const want = `Catalog for 'pg_to_pg' (source: source-postgres)
  Streams: 2

  Stream: public.users
    Sync modes:  full_refresh, incremental
    Primary key: id
    Columns:
      id int64 NOT NULL
      email utf8 NULL
      updated_at timestamp[us, UTC] NULL
    Default cursor: updated_at
    Cursor candidates: id, updated_at
    Selected by: public.*

  Stream: public.events
    Sync modes:  full_refresh
    Columns:
      payload utf8 NULL

@@CATALOG_JSON@@{
  "streams": [
    {
      "name": "public.users",
      "schema": [
        {
          "name": "id",
          "data_type": "int64",
          "nullable": false,
          "source_type": "bigint"
        },
        {
          "name": "email",
          "data_type": "utf8",
          "nullable": true,
          "source_type": "text"
        },
        {
          "name": "updated_at",
          "data_type": "timestamp[us, UTC]",
          "nullable": true,
          "source_type": "timestamptz"
        }
      ],
      "supported_sync_modes": [
        "full_refresh",
        "incremental"
      ],
      "source_defined_cursor": null,
      "source_defined_primary_key": [
        "id"
      ],
      "namespace": "public",
      "default_cursor_field": "updated_at",
      "cursor_candidates": [
        "id",
        "updated_at"
      ]
    },
    {
      "name": "public.events",
      "schema": [
        {
          "name": "payload",
          "data_type": "utf8",
          "nullable": true
        }
      ],
      "supported_sync_modes": [
        "full_refresh"
      ],
      "source_defined_cursor": null,
      "source_defined_primary_key": [],
      "namespace": "public"
    }
  ]
}
`
		if diff := cmp.Diff(want, r.stdout); diff != "" {
			t.Errorf("discover text (-want +got):\n%s", diff)
		}
		if f.discovered[0].GetVariables()["PG_PASSWORD"] != "x" {
			t.Errorf("variables not sent: %v", f.discovered[0])
		}
	})
	t.Run("json", func(t *testing.T) {
		r := invoke(t, nil, "--coordinator", addr, "-o", "json", "discover", file)
		out := lines(r.stdout)
		if r.code != 0 || len(out) != 1 || !json.Valid([]byte(out[0])) {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
		again := invoke(t, nil, "--coordinator", addr, "-o", "json", "discover", file)
		if again.stdout != r.stdout {
			t.Errorf("catalog JSON is not stable:\n%s\n%s", r.stdout, again.stdout)
		}
	})
}

func TestCheck(t *testing.T) {
	ok := &rapidbytev1.CoordinatorServiceCheckResponse{Ok: true, Items: []*rapidbytev1.CheckItem{
		{Name: "structure", Ok: true, Message: "pipeline pg_to_pg, 2 streams"},
		{Name: "connectors", Ok: true, Message: "source-postgres 0.1.0, dest-postgres 0.1.0"},
		{Name: "source", Ok: true},
		{Name: "destination", Ok: true},
		{Name: "state", Ok: true, Message: "sqlite"},
	}}
	failed := proto.Clone(ok).(*rapidbytev1.CoordinatorServiceCheckResponse)
	failed.Ok = false
	failed.Items[2] = &rapidbytev1.CheckItem{Name: "source", Message: "cannot connect", Error: &rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_AUTH, Code: "AUTH_FAILED", Connector: "source-postgres",
		Message: "password authentication failed", Hint: "check the password",
	}}
	file := writePipeline(t, pipelineYAML)

	t.Run("passed", func(t *testing.T) {
		addr := serve(t, &fakeCoordinator{check: ok}, "")
		r := invoke(t, nil, "--coordinator", addr, "check", file)
		want := []string{
			"structure    OK      pipeline pg_to_pg, 2 streams",
			"connectors   OK      source-postgres 0.1.0, dest-postgres 0.1.0",
			"source       OK",
			"destination  OK",
			"state        OK      sqlite",
			"All checks passed.",
		}
		if diff := cmp.Diff(want, lines(r.stdout)); diff != "" || r.code != 0 {
			t.Errorf("exit %d, stdout (-want +got):\n%s", r.code, diff)
		}
	})
	t.Run("failed", func(t *testing.T) {
		addr := serve(t, &fakeCoordinator{check: failed}, "")
		r := invoke(t, nil, "--coordinator", addr, "check", file)
		if r.code != ExitFailure {
			t.Errorf("exit %d", r.code)
		}
		wantLine := "source       FAILED  source-postgres: password authentication failed (auth/AUTH_FAILED); hint: check the password"
		if !strings.Contains(r.stdout, wantLine+"\n") || strings.Contains(r.stdout, "All checks passed") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		if r.stderr != "error: 1 of 5 checks failed: source\n" {
			t.Errorf("stderr = %q", r.stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		addr := serve(t, &fakeCoordinator{check: failed}, "")
		r := invoke(t, nil, "--coordinator", addr, "-o", "json", "check", file)
		m := decodeObject(t, r.stdout)
		if r.code != ExitFailure || m["ok"] != false || len(m["items"].([]any)) != 5 {
			t.Errorf("exit %d, json %v", r.code, m)
		}
	})
}

func TestConnectors(t *testing.T) {
	addr := serve(t, &fakeCoordinator{connectors: manifests}, "")
	r := invoke(t, nil, "--coordinator", addr, "connectors")
	want := []string{
		"ID               VERSION  ROLES        DIGEST               DESCRIPTION",
		"source-postgres  0.1.0    source       sha256:0123456789ab  Reads PostgreSQL tables.",
		"dest-postgres    0.1.0    destination  sha256:fedcba987654  Writes PostgreSQL tables.",
	}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" || r.code != 0 {
		t.Errorf("exit %d, stdout (-want +got):\n%s", r.code, diff)
	}
}

func TestStatusWatch(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		addr := serve(t, &fakeCoordinator{run: failedRun()}, "")
		r := invoke(t, nil, "--coordinator", addr, "status", "run-2")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Pipeline 'pg_to_pg' failed after 1 attempt(s).\n") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("status of unknown run", func(t *testing.T) {
		addr := serve(t, &fakeCoordinator{run: failedRun()}, "")
		r := invoke(t, nil, "--coordinator", addr, "status", "nope")
		if r.code != ExitFailure || r.stderr != "error: run nope not found\n" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	tests := []struct {
		name  string
		run   *rapidbytev1.RunResult
		code  int
		state string
	}{
		{"succeeded", succeededRun(), ExitOK, "SUCCEEDED"},
		{"failed", failedRun(), ExitFailure, "FAILED"},
		{"cancelled", &rapidbytev1.RunResult{RunId: "run-3", State: rapidbytev1.RunState_RUN_STATE_CANCELLED, Attempts: 1}, ExitCancelled, "CANCELLED"},
	}
	for _, tt := range tests {
		t.Run("watch "+tt.name, func(t *testing.T) {
			f := &fakeCoordinator{run: tt.run, events: []*rapidbytev1.WatchRunResponse{
				{State: rapidbytev1.RunState_RUN_STATE_RUNNING, Attempt: 1, Message: "started"},
				{State: rapidbytev1.RunState_RUN_STATE_RUNNING, Attempt: 1, Message: "started"},
			}}
			addr := serve(t, f, "")
			r := invoke(t, nil, "--coordinator", addr, "watch", tt.run.GetRunId())
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if n := strings.Count(r.stdout, "RUNNING attempt 1: started\n"); n != 1 {
				t.Errorf("event printed %d times, want once:\n%s", n, r.stdout)
			}
			if !strings.Contains(r.stdout, tt.state+" attempt") || !strings.Contains(r.stdout, "@@BENCH_JSON@@{") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
			j := invoke(t, nil, "--coordinator", addr, "-o", "json", "watch", tt.run.GetRunId())
			if m := decodeObject(t, j.stdout); m["state"] != tt.state || j.code != tt.code {
				t.Errorf("json exit %d: %v", j.code, m)
			}
		})
	}
}

func TestRunsAndCancel(t *testing.T) {
	var runs []*rapidbytev1.RunResult
	for _, id := range []string{"r5", "r4", "r3", "r2", "r1"} {
		runs = append(runs, &rapidbytev1.RunResult{RunId: id, Pipeline: "pg_to_pg", State: rapidbytev1.RunState_RUN_STATE_SUCCEEDED, RecordsWritten: 1234, DurationSecs: 2})
	}
	f := &fakeCoordinator{runs: runs, cancelAccepted: true}
	addr := serve(t, f, "")

	r := invoke(t, nil, "--coordinator", addr, "runs", "--limit", "3", "--state", "succeeded,failed", "--pipeline", "pg_to_pg")
	want := []string{
		"RUN ID  PIPELINE  STATE      RECORDS  DURATION  RETRIES  CREATED",
		"r5      pg_to_pg  SUCCEEDED  1,234    2.00s     0        -",
		"r4      pg_to_pg  SUCCEEDED  1,234    2.00s     0        -",
		"r3      pg_to_pg  SUCCEEDED  1,234    2.00s     0        -",
	}
	if diff := cmp.Diff(want, lines(r.stdout)); diff != "" || r.code != 0 {
		t.Errorf("exit %d, stderr %q, stdout (-want +got):\n%s", r.code, r.stderr, diff)
	}
	wantReq := &rapidbytev1.ListRunsRequest{PageSize: 3, Pipeline: "pg_to_pg",
		States: []rapidbytev1.RunState{rapidbytev1.RunState_RUN_STATE_SUCCEEDED, rapidbytev1.RunState_RUN_STATE_FAILED}}
	if diff := cmp.Diff(wantReq, f.listed[0], protocmp.Transform()); diff != "" {
		t.Errorf("ListRuns request (-want +got):\n%s", diff)
	}
	if len(f.listed) != 2 || f.listed[1].GetPageToken() != "2" || f.listed[1].GetPageSize() != 1 {
		t.Errorf("paging requests = %v", f.listed)
	}

	c := invoke(t, nil, "--coordinator", addr, "cancel", "r5")
	if c.code != 0 || c.stdout != "Cancellation of run r5 requested (state RUNNING).\n" {
		t.Errorf("exit %d, stdout %q", c.code, c.stdout)
	}
	f.cancelAccepted = false
	c = invoke(t, nil, "--coordinator", addr, "cancel", "r4")
	if c.code != ExitFailure || c.stderr != "error: run r4 already finished (SUCCEEDED); nothing to cancel\n" {
		t.Errorf("exit %d, stderr %q", c.code, c.stderr)
	}
}

// fakeCluster stands in for the embedded coordinator and worker.
type fakeCluster struct {
	addr, token string
	closed      bool
}

func (c *fakeCluster) Addr() string      { return c.addr }
func (c *fakeCluster) AuthToken() string { return c.token }
func (c *fakeCluster) Close() error      { c.closed = true; return nil }

func TestEmbeddedMode(t *testing.T) {
	addr := serve(t, &fakeCoordinator{connectors: manifests}, "embedded-token")
	dir := t.TempDir()
	var got embedded.Config
	cl := &fakeCluster{addr: addr, token: "embedded-token"}
	start := func(_ context.Context, cfg embedded.Config) (cluster, error) {
		got = cfg
		return cl, nil
	}
	r := invokeWith(t, map[string]string{EnvConnectorsDir: dir, EnvState: "sqlite://" + dir + "/s/state.db", EnvCacheDir: dir + "/cache"},
		false, start, "-o", "json", "connectors")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if got.ConnectorsDir != dir || got.State != "sqlite://"+dir+"/s/state.db" || got.CacheDir != dir+"/cache" || got.Logger == nil {
		t.Errorf("embedded config = %+v", got)
	}
	if !cl.closed {
		t.Error("embedded cluster not closed")
	}
	if _, err := os.Stat(filepath.Join(dir, "s")); err != nil {
		t.Errorf("state directory not created: %v", err)
	}
	var cs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &cs); err != nil || len(cs) != 2 || cs[0]["id"] != "source-postgres" {
		t.Errorf("connectors JSON %q: %v", r.stdout, err)
	}

	t.Run("runs --state is a run-state filter, not the store", func(t *testing.T) {
		env := map[string]string{EnvConnectorsDir: dir, EnvState: "sqlite://" + dir + "/env.db"}
		r := invokeWith(t, env, false, start, "runs", "--state", "failed")
		if r.code != 0 || got.State != env[EnvState] {
			t.Errorf("exit %d (stderr %q), store %q, want %q", r.code, r.stderr, got.State, env[EnvState])
		}
		r = invokeWith(t, env, false, start, "connectors", "--state", "sqlite://"+dir+"/flag.db")
		if r.code != 0 || got.State != "sqlite://"+dir+"/flag.db" {
			t.Errorf("exit %d (stderr %q), store %q, want the --state flag", r.code, r.stderr, got.State)
		}
	})
	t.Run("the process is prepared only for an embedded cluster", func(t *testing.T) {
		prepared := 0
		execute := func(env map[string]string, args ...string) int {
			a := newApp(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] },
				HomeDir: t.TempDir(), PrepareEmbedded: func() { prepared++ }})
			a.startEmbedded = start
			return a.execute(context.Background(), args)
		}
		if code := execute(map[string]string{EnvConnectorsDir: dir}, "connectors"); code != 0 || prepared != 1 {
			t.Errorf("embedded: exit %d, prepared %d times, want once", code, prepared)
		}
		if code := execute(map[string]string{EnvCoordinator: addr, EnvAuthToken: "embedded-token"}, "connectors"); code != 0 || prepared != 1 {
			t.Errorf("remote: exit %d, prepared %d times in all, want 1 (the embedded one)", code, prepared)
		}
	})
	t.Run("start failure", func(t *testing.T) {
		fail := func(context.Context, embedded.Config) (cluster, error) {
			return nil, errors.New("listen: address in use")
		}
		r := invokeWith(t, map[string]string{EnvConnectorsDir: dir}, false, fail, "connectors")
		if r.code != ExitFailure || r.stderr != "error: start embedded coordinator: listen: address in use\n" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("missing connectors dir", func(t *testing.T) {
		r := invokeWith(t, map[string]string{EnvConnectorsDir: dir + "/nope"}, false, start, "connectors")
		if r.code != ExitFailure || r.stderr != "error: connectors directory "+dir+"/nope: not found (set --connectors-dir or RAPIDBYTE_CONNECTORS_DIR)\n" {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestRemoteSendsReferencedVariables checks the client's half of the
// variable policy: with a remote coordinator the CLI sends its own
// environment's values for the names the pipeline refers to (not $${escapes},
// not other names), and --var wins over them.
func TestRemoteSendsReferencedVariables(t *testing.T) {
	file := writePipeline(t, `version: "1.0"
pipeline: p
source: {use: source-postgres, config: {host: "${PG_HOST}", password: "${PG_PASSWORD}", note: "$${NOT_A_VAR}"}, streams: [{name: t}]}
destination: {use: dest-postgres, config: {host: "${PG_HOST}"}}
`)
	f := &fakeCoordinator{check: &rapidbytev1.CoordinatorServiceCheckResponse{Ok: true}}
	addr := serve(t, f, "")
	env := map[string]string{"PG_HOST": "db", "PG_PASSWORD": "pw", "NOT_A_VAR": "x", "OTHER": "y"}
	r := invoke(t, env, "--coordinator", addr, "check", "--var", "PG_HOST=override", file)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := map[string]string{"PG_HOST": "override", "PG_PASSWORD": "pw"}
	if diff := cmp.Diff(want, f.checked[0].GetVariables()); diff != "" {
		t.Errorf("variables sent (-want +got):\n%s", diff)
	}
}
