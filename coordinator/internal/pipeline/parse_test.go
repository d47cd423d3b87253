package pipeline

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// designExample is the pipeline of DESIGN §3, verbatim.
const designExample = `version: "1.0"
pipeline: pg_to_pg
source:
  use: source-postgres            # connector id, optional @version
  config: {host: 127.0.0.1, port: 5432, user: app, password: ${PG_PASSWORD}, database: src, schema: public}
  streams:
    - {name: users, sync_mode: incremental, cursor_field: updated_at, tie_breaker_field: id}
    - {name: orders, sync_mode: full_refresh, columns: [id, amount], partition_key: id}
destination:
  use: dest-postgres
  config: {host: 127.0.0.1, port: 5432, user: app, database: dst, schema: raw}
  write_mode: upsert              # append | replace | upsert
  primary_key: [id]
  on_data_error: fail             # fail | skip | dlq
state: {backend: sqlite}          # or postgres with connection: postgres://...
resources: {max_retries: 3, parallelism: 4, max_inflight_batches: 16, max_batch_bytes: 64mb,
            checkpoint_interval_rows: 0, checkpoint_interval_bytes: 64mb, checkpoint_interval_seconds: 0}
`

// minimal is the smallest valid pipeline; cases below append to or edit it.
const minimal = `version: "1.0"
pipeline: p
source:
  use: source-postgres
  streams:
    - name: users
destination:
  use: dest-postgres
`

func vars(kv ...string) Lookup {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return MapLookup(m, nil)
}

var cmpPipeline = []cmp.Option{cmpopts.IgnoreUnexported(Source{}, Destination{}, State{}, StreamConfig{}), cmpopts.EquateEmpty()}

func TestParseDesignExample(t *testing.T) {
	p, err := Parse([]byte(designExample), vars("PG_PASSWORD", "hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Pipeline{
		Version: "1.0",
		Name:    "pg_to_pg",
		Source: Source{
			Use: ConnectorRef{ID: "source-postgres"},
			Config: map[string]any{"host": "127.0.0.1", "port": int64(5432), "user": "app",
				"password": "${PG_PASSWORD}", "database": "src", "schema": "public"},
			Streams: []StreamConfig{
				{Name: "users", SyncMode: SyncIncremental, CursorField: "updated_at", TieBreakerField: "id", Partitions: 1},
				{Name: "orders", SyncMode: SyncFullRefresh, Columns: []string{"id", "amount"}, PartitionKey: "id", Partitions: 4},
			},
		},
		Destination: Destination{
			Use:       ConnectorRef{ID: "dest-postgres"},
			Config:    map[string]any{"host": "127.0.0.1", "port": int64(5432), "user": "app", "database": "dst", "schema": "raw"},
			WriteMode: WriteUpsert, PrimaryKey: []string{"id"}, OnDataError: OnDataErrorFail,
			SchemaEvolution: defaultEvolution,
		},
		State: State{Backend: StateSQLite},
		Resources: Resources{MaxRetries: 3, Parallelism: 4, MaxInflightBatches: 16, MaxBatchBytes: 64 << 20,
			MaxBatchRows: 16384, CheckpointIntervalBytes: 64 << 20},
	}
	if diff := cmp.Diff(want, p, cmpPipeline...); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	r, err := p.Resolve(vars("PG_PASSWORD", "hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Source["password"] != "hunter2" || r.Source["port"] != int64(5432) {
		t.Errorf("Resolve source = %v", r.Source)
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := Parse([]byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Pipeline{
		Version: "1.0", Name: "p",
		Source: Source{Use: ConnectorRef{ID: "source-postgres"}, Config: map[string]any{},
			Streams: []StreamConfig{{Name: "users", SyncMode: SyncFullRefresh, Partitions: 1}}},
		Destination: Destination{Use: ConnectorRef{ID: "dest-postgres"}, Config: map[string]any{},
			WriteMode: WriteAppend, OnDataError: OnDataErrorFail, SchemaEvolution: defaultEvolution},
		State: State{Backend: StateSQLite},
		Resources: Resources{
			MaxRetries: DefaultMaxRetries, Parallelism: DefaultParallelism, MaxInflightBatches: DefaultMaxInflightBatches,
			MaxBatchBytes: DefaultMaxBatchBytes, MaxBatchRows: DefaultMaxBatchRows,
			CheckpointIntervalBytes: DefaultCheckpointIntervalBytes,
		},
	}
	if diff := cmp.Diff(want, p, cmpPipeline...); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseFields(t *testing.T) {
	src := `version: 1.0
pipeline: ${NAME}
source:
  use: source-postgres@1.2.0
  permissions: {network: {allowed_hosts: [db.internal, "10.0.0.0/8"]}}
  streams:
    - name: events
      namespace: app
      sync_mode: full_refresh
      columns: id
      partitions: 8
      destination_table: events_raw
    - {name: logs, partition_key: id, partitions: "${PARTS}"}
destination:
  use: dest-postgres
  write_mode: replace
  on_data_error: dlq
  max_failed_records: 10
  schema_evolution: {new_column: ignore, removed_column: fail, type_change: "null", nullability_change: fail}
  permissions: {network: {allowed_hosts: [db.internal, dst.internal]}}
state: {backend: postgres, connection: "postgres://u:${PW}@h/state"}
permissions: {network: {allowed_hosts: [metrics.internal]}}
resources:
  max_retries: 0
  parallelism: ${PAR}
  max_inflight_batches: 1
  max_batch_bytes: 512MiB
  max_batch_rows: 0x100
  max_memory: 1.5 gb
  checkpoint_interval_rows: 100_000
  checkpoint_interval_bytes: 0
  checkpoint_interval_seconds: 30
  timeout_seconds: 600
`
	p, err := Parse([]byte(src), vars("NAME", "events_sync", "PARTS", "2", "PAR", "2", "PW", "x"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Pipeline{
		Version: "1.0", Name: "events_sync",
		Source: Source{
			Use: ConnectorRef{ID: "source-postgres", Version: "1.2.0"}, Config: map[string]any{},
			Permissions: Permissions{Network: NetworkPermissions{AllowedHosts: []string{"db.internal", "10.0.0.0/8"}}},
			Streams: []StreamConfig{
				{Name: "events", Namespace: "app", SyncMode: SyncFullRefresh, Columns: []string{"id"}, Partitions: 8, DestinationTable: "events_raw"},
				{Name: "logs", SyncMode: SyncFullRefresh, PartitionKey: "id", Partitions: 2},
			},
		},
		Destination: Destination{
			Use: ConnectorRef{ID: "dest-postgres"}, Config: map[string]any{}, WriteMode: WriteReplace,
			OnDataError: OnDataErrorDLQ, MaxFailedRecords: 10, SchemaEvolution: SchemaEvolution{NewColumn: NewColumnIgnore,
				RemovedColumn: RemovedColumnFail, TypeChange: TypeChangeNull, NullabilityChange: NullabilityFail},
			Permissions: Permissions{Network: NetworkPermissions{AllowedHosts: []string{"db.internal", "dst.internal"}}},
		},
		State:       State{Backend: StatePostgres, Connection: "postgres://u:${PW}@h/state"},
		Permissions: Permissions{Network: NetworkPermissions{AllowedHosts: []string{"metrics.internal"}}},
		Resources: Resources{MaxRetries: 0, Parallelism: 2, MaxInflightBatches: 1, MaxBatchBytes: 512 << 20,
			MaxBatchRows: 256, MaxMemory: 3 << 29, CheckpointIntervalRows: 100000, CheckpointIntervalBytes: 0,
			CheckpointIntervalSeconds: 30, TimeoutSeconds: 600},
	}
	if diff := cmp.Diff(want, p, cmpPipeline...); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if got := p.AllowedHosts(p.Destination.Permissions); !cmp.Equal(got, []string{"metrics.internal", "db.internal", "dst.internal"}) {
		t.Errorf("AllowedHosts = %v", got)
	}
	if s, ok := p.Stream("logs"); !ok || s.Partitions != 2 {
		t.Errorf("Stream(logs) = %+v, %v", s, ok)
	}
	if _, ok := p.Stream("nope"); ok {
		t.Error("Stream(nope) found")
	}
	if got := p.Source.Use.String(); got != "source-postgres@1.2.0" {
		t.Errorf("ConnectorRef.String = %q", got)
	}
}

// problemsOf parses src and returns its problems rendered as line:col: path: message.
func problemsOf(t *testing.T, src string, lookup Lookup) []string {
	t.Helper()
	p, err := Parse([]byte(src), lookup)
	if err == nil {
		if p == nil {
			t.Fatal("Parse returned nil pipeline and nil error")
		}
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *ValidationError: %v", err, err)
	}
	if p != nil {
		t.Error("Parse returned a pipeline with an error")
	}
	out := make([]string, len(ve.Problems))
	for i, pr := range ve.Problems {
		out[i] = pr.String()
	}
	return out
}

// edit replaces old with new in minimal, failing if old is absent.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(minimal, old) {
		t.Fatalf("minimal lacks %q", old)
	}
	return strings.Replace(minimal, old, new, 1)
}

// TestParseQualifiedStreamName: "schema.table", as discover prints a stream,
// names that table of that schema; an explicit namespace keeps the name whole.
func TestParseQualifiedStreamName(t *testing.T) {
	for _, tc := range []struct{ stream, wantNS, wantName string }{
		{"name: public.users", "public", "users"},
		{"name: users", "", "users"},
		{"{name: odd.name, namespace: app}", "app", "odd.name"},
		{"name: .users", "", ".users"},
	} {
		y := strings.Replace(minimal, "name: users", tc.stream, 1)
		p, err := Parse([]byte(y), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.stream, err)
		}
		got := p.Source.Streams[0]
		if got.Namespace != tc.wantNS || got.Name != tc.wantName {
			t.Errorf("%s: namespace %q name %q, want %q %q", tc.stream, got.Namespace, got.Name, tc.wantNS, tc.wantName)
		}
	}
}

var defaultEvolution = SchemaEvolution{NewColumn: NewColumnAdd, RemovedColumn: RemovedColumnIgnore, TypeChange: TypeChangeCoerce, NullabilityChange: NullabilityAllow}

// TestBatchBytesFollowMaxMemory: with max_memory set and max_batch_bytes
// not, a batch is at most a quarter of the guest's memory (the 64 MiB
// default ran an 80 MiB guest out of memory); an explicit max_batch_bytes
// within half of it is kept.
func TestBatchBytesFollowMaxMemory(t *testing.T) {
	for _, tc := range []struct {
		resources string
		want      uint64
	}{
		{"resources: {max_memory: 80mb}\n", 20 << 20},
		{"resources: {max_memory: 1gb}\n", DefaultMaxBatchBytes},
		{"resources: {max_memory: 80mb, max_batch_bytes: 40mb}\n", 40 << 20},
		{"resources: {max_batch_bytes: 8mb}\n", 8 << 20},
	} {
		p, err := Parse([]byte(minimal+tc.resources), nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.resources, err)
		}
		if p.Resources.MaxBatchBytes != tc.want {
			t.Errorf("%q: max_batch_bytes = %d, want %d", tc.resources, p.Resources.MaxBatchBytes, tc.want)
		}
	}
}
