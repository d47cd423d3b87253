package protoconv

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func ptr[T any](v T) *T { return &v }

func TestEnumNames(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"sync full refresh", SyncModeName(rbv1.SyncMode_SYNC_MODE_FULL_REFRESH), abi.SyncFullRefresh},
		{"sync incremental", SyncModeName(rbv1.SyncMode_SYNC_MODE_INCREMENTAL), abi.SyncIncremental},
		{"sync unspecified", SyncModeName(rbv1.SyncMode_SYNC_MODE_UNSPECIFIED), ""},
		{"sync unknown number", SyncModeName(rbv1.SyncMode(99)), ""},
		{"write upsert", WriteModeName(rbv1.WriteMode_WRITE_MODE_UPSERT), abi.WriteUpsert},
		{"role destination", RoleName(rbv1.Role_ROLE_DESTINATION), abi.RoleDestination},
		{"category transient db", CategoryName(rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB), "transient_db"},
		{"category rate limit", CategoryName(rbv1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT), "rate_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	for _, c := range []string{"config", "auth", "permission", "rate_limit", "transient_network", "transient_db", "data", "schema", "internal", "cancelled"} {
		if got := CategoryName(CategoryFromName(c)); got != c {
			t.Errorf("category %q round trip: %q", c, got)
		}
	}
	if got := SyncModeFromName("bogus"); got != rbv1.SyncMode_SYNC_MODE_UNSPECIFIED {
		t.Errorf("unknown sync mode = %v", got)
	}
}

func TestStreamSpecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *rbv1.StreamSpec
	}{
		{"minimal", &rbv1.StreamSpec{Name: "users"}},
		{"full", &rbv1.StreamSpec{
			Namespace: "public", Name: "users", SyncMode: rbv1.SyncMode_SYNC_MODE_INCREMENTAL,
			CursorField: "updated_at", TieBreakerField: "id", Columns: []string{"id", "updated_at"},
			Partition: &rbv1.Partition{Index: 1, Count: 4, Key: "id"}, WriteMode: rbv1.WriteMode_WRITE_MODE_UPSERT,
			PrimaryKey: []string{"id"}, Limits: &rbv1.Limits{MaxBatchRows: 1000, CheckpointIntervalBytes: 1 << 20},
			OnDataError: rbv1.DataErrorPolicy_DATA_ERROR_POLICY_DLQ, NewColumn: rbv1.NewColumnPolicy_NEW_COLUMN_POLICY_IGNORE,
			DestinationTable: "raw_users", Pipeline: "p",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StreamSpecFromProto(tt.in)
			if got := StreamSpecToProto(s); !cmp.Equal(got, tt.in, protocmp.Transform()) {
				t.Errorf("round trip diff:\n%s", cmp.Diff(tt.in, got, protocmp.Transform()))
			}
		})
	}
	full := StreamSpecFromProto(tests[1].in)
	if full.SyncMode != "incremental" || full.WriteMode != "upsert" || full.OnDataError != "dlq" || full.NewColumn != "ignore" {
		t.Errorf("enum names: %+v", full)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *abi.Checkpoint
	}{
		{"nil", nil},
		{"int", &abi.Checkpoint{ID: 3, Stream: "s", CursorField: "id", CursorValue: &abi.CursorValue{Int: ptr[int64](42)}, Records: 10, Bytes: 99}},
		{"double", &abi.Checkpoint{CursorValue: &abi.CursorValue{Double: ptr(1.5)}}},
		{"string", &abi.Checkpoint{CursorValue: &abi.CursorValue{String: ptr("x")}}},
		{"timestamp and tie breaker", &abi.Checkpoint{
			CursorValue: &abi.CursorValue{TimestampMicros: ptr[int64](1700000000000000)}, TieBreakerField: "id",
			TieBreakerValue: &abi.CursorValue{Int: ptr[int64](7)}, Partition: 2,
		}},
		{"date", &abi.Checkpoint{CursorValue: &abi.CursorValue{DateDays: ptr[int32](19000)}}},
		{"decimal", &abi.Checkpoint{CursorValue: &abi.CursorValue{Decimal: ptr("12.50")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckpointFromProto(CheckpointToProto(tt.in))
			if diff := cmp.Diff(tt.in, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCatalogRoundTrip(t *testing.T) {
	in := &abi.Catalog{Streams: []abi.Stream{{
		Namespace: "public", Name: "users",
		Columns:             []abi.Column{{Name: "id", ArrowType: "int64", SourceType: "bigint"}, {Name: "email", ArrowType: "utf8", Nullable: true}},
		SupportedSyncModes:  []string{"full_refresh", "incremental"},
		DefaultCursorField:  "updated_at",
		SourceDefinedCursor: true, SourceDefinedPrimaryKey: []string{"id"}, CursorCandidates: []string{"id", "updated_at"},
	}}}
	p := CatalogToProto(in)
	if got := p.GetStreams()[0].GetSupportedSyncModes(); !cmp.Equal(got, []rbv1.SyncMode{rbv1.SyncMode_SYNC_MODE_FULL_REFRESH, rbv1.SyncMode_SYNC_MODE_INCREMENTAL}) {
		t.Errorf("sync modes = %v", got)
	}
	if diff := cmp.Diff(in, CatalogFromProto(p)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := CatalogToProto(nil); len(got.GetStreams()) != 0 {
		t.Errorf("nil catalog = %v", got)
	}
}

func TestErrorRoundTrip(t *testing.T) {
	in := abi.ErrorEnvelope{
		Category: "transient_db", Code: "SERIALIZATION_FAILURE", Message: "could not serialize", Retryable: true,
		SafeToRetry: true, CommitState: "before_commit", RetryAfterMs: 250, Scope: "batch", BackoffClass: "fast", Hint: "retry",
	}
	p := ErrorToProto(in, "dest-postgres")
	if p.GetCategory() != rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB || p.GetCommitState() != rbv1.CommitState_COMMIT_STATE_BEFORE_COMMIT ||
		p.GetScope() != rbv1.ErrorScope_ERROR_SCOPE_BATCH || p.GetBackoffClass() != rbv1.BackoffClass_BACKOFF_CLASS_FAST {
		t.Errorf("enums: %v", p)
	}
	got, conn := ErrorFromProto(p)
	if diff := cmp.Diff(in, got); diff != "" || conn != "dest-postgres" {
		t.Errorf("round trip (-want +got):\n%s (connector %q)", diff, conn)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	in := abi.Manifest{
		ID: "source-postgres", Version: "0.1.0", Description: "PG", Roles: []string{"source"},
		SyncModes: []string{"full_refresh", "incremental"}, ConfigSchema: json.RawMessage(`{"type":"object"}`),
		Permissions: abi.Permissions{AllowedHosts: []string{"db:5432"}}, ABIVersion: 1, Digest: "sha256:ab", SizeBytes: 10,
		SecretFields: []string{"password"},
	}
	p := ManifestToProto(in)
	if p.GetConfigSchema() != `{"type":"object"}` || p.GetRoles()[0] != rbv1.Role_ROLE_SOURCE {
		t.Errorf("proto manifest: %v", p)
	}
	if diff := cmp.Diff(in, ManifestFromProto(p)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestConfigJSON(t *testing.T) {
	s, err := structpb.NewStruct(map[string]any{"host": "db", "port": 5432})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   *structpb.Struct
		want map[string]any
	}{
		{"nil", nil, map[string]any{}},
		{"values", s, map[string]any{"host": "db", "port": float64(5432)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ConfigJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
