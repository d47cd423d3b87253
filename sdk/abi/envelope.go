package abi

import "encoding/json"

// Op names the lifecycle operation a guest instance is opened for.
type Op string

// The operations; one per instance.
const (
	OpDiscover Op = "discover"
	OpCheck    Op = "check"
	OpRead     Op = "read"
	OpWrite    Op = "write"
)

// Request is the JSON the guest reads with get_request during rb_open. It
// holds everything the instance needs for its one operation.
type Request struct {
	// Op is the operation that follows rb_open.
	Op Op `json:"op"`
	// ConnectorID is the id of the module being run.
	ConnectorID string `json:"connector_id"`
	// Role selects the side of a connector that has both (RoleSource or
	// RoleDestination) for OpCheck; empty means the source when present.
	// OpRead and OpDiscover always use the source, OpWrite the destination.
	Role string `json:"role,omitempty"`
	// Config is the connector's config object, secrets resolved.
	Config json.RawMessage `json:"config"`
	// Stream is set for OpRead and OpWrite.
	Stream *StreamSpec `json:"stream,omitempty"`
	// Resume is the last acknowledged checkpoint, when resuming.
	Resume *Checkpoint `json:"resume,omitempty"`
	// Schema is the schema of the batches of an OpWrite (nil when the
	// input stream is empty, and for the other operations).
	Schema *SchemaEnvelope `json:"schema,omitempty"`
	// Streams, for an OpCheck of a destination, are the streams the
	// pipeline will write with the source's fields, for a drift report.
	Streams []StreamSchema `json:"streams,omitempty"`
	// Names, for an OpDiscover, are the streams the caller needs (a
	// pipeline's, by name): a source implementing sdk.NamedDiscoverer lists
	// only those; empty lists every stream.
	Names []string `json:"names,omitempty"`
	// Release, for an OpCheck of a source, names a pipeline: instead of
	// checking, the source drops what it holds on the server for that
	// pipeline's change stream (see sdk.Releaser) and the CheckResult
	// message says what it dropped.
	Release string `json:"release,omitempty"`
}

// StreamSchema is a stream to write and the fields the source will send.
type StreamSchema struct {
	Stream StreamSpec `json:"stream"`
	Fields []Field    `json:"fields"`
}

// StreamResult is what a guest hands the host with set_result when rb_read
// or rb_write succeeds (optional: a guest may set none).
type StreamResult struct {
	// PhaseSecs are the seconds the connector spent per phase, keyed by
	// phase name: "connect", "query", "fetch", "flush", "commit".
	PhaseSecs map[string]float64 `json:"phase_secs,omitempty"`
}

// StreamSpec mirrors rapidbyte.v1.StreamSpec. Enum values are the lower-case
// names below.
type StreamSpec struct {
	Namespace       string     `json:"namespace,omitempty"`
	Name            string     `json:"name"`
	SyncMode        string     `json:"sync_mode,omitempty"` // "full_refresh" | "incremental" | "cdc"
	CursorField     string     `json:"cursor_field,omitempty"`
	TieBreakerField string     `json:"tie_breaker_field,omitempty"`
	Columns         []string   `json:"columns,omitempty"`
	Partition       *Partition `json:"partition,omitempty"`
	WriteMode       string     `json:"write_mode,omitempty"` // "append" | "replace" | "upsert"
	PrimaryKey      []string   `json:"primary_key,omitempty"`
	Limits          Limits     `json:"limits"`
	OnDataError     string     `json:"on_data_error,omitempty"` // "fail" | "skip" | "dlq"
	NewColumn       string     `json:"new_column,omitempty"`    // "add" | "ignore" | "fail"
	// RemovedColumn, TypeChange and NullabilityChange are the other schema
	// evolution policies: "ignore" | "fail", "coerce" | "fail" | "null" and
	// "allow" | "fail"; empty means the first of each.
	RemovedColumn     string `json:"removed_column,omitempty"`
	TypeChange        string `json:"type_change,omitempty"`
	NullabilityChange string `json:"nullability_change,omitempty"`
	// MaxFailedRecords stops a write under on_data_error skip or dlq once
	// more rows than this were rejected (0 = no limit).
	MaxFailedRecords uint64 `json:"max_failed_records,omitempty"`
	DestinationTable string `json:"destination_table,omitempty"`
	Pipeline         string `json:"pipeline,omitempty"`
	RunID            string `json:"run_id,omitempty"`
	Attempt          uint32 `json:"attempt,omitempty"`
	// Follow makes a change stream read until the coordinator asks it to
	// stop (see FollowState), instead of up to the log position it saw at
	// its start.
	Follow bool `json:"follow,omitempty"`
}

// Partition mirrors rapidbyte.v1.Partition.
type Partition struct {
	Index          uint32 `json:"index"`
	Count          uint32 `json:"count"`
	Key            string `json:"key,omitempty"`
	Snapshot       string `json:"snapshot,omitempty"`
	ExportSnapshot bool   `json:"export_snapshot,omitempty"`
}

// Limits mirrors rapidbyte.v1.Limits. Zero values mean the defaults.
type Limits struct {
	MaxBatchBytes             uint64 `json:"max_batch_bytes,omitempty"`
	MaxBatchRows              uint32 `json:"max_batch_rows,omitempty"`
	CheckpointIntervalRows    uint64 `json:"checkpoint_interval_rows,omitempty"`
	CheckpointIntervalBytes   uint64 `json:"checkpoint_interval_bytes,omitempty"`
	CheckpointIntervalSeconds uint32 `json:"checkpoint_interval_seconds,omitempty"`
	// MaxMemoryBytes caps each connector instance's linear memory (0 = the
	// worker's cap). The host enforces it; the guest sees a failed grow.
	MaxMemoryBytes uint64 `json:"max_memory_bytes,omitempty"`
}

// Checkpoint mirrors rapidbyte.v1.Checkpoint.
type Checkpoint struct {
	ID              uint64       `json:"id,omitempty"`
	Stream          string       `json:"stream,omitempty"`
	CursorField     string       `json:"cursor_field,omitempty"`
	CursorValue     *CursorValue `json:"cursor_value,omitempty"`
	TieBreakerField string       `json:"tie_breaker_field,omitempty"`
	TieBreakerValue *CursorValue `json:"tie_breaker_value,omitempty"`
	Records         uint64       `json:"records,omitempty"`
	Bytes           uint64       `json:"bytes,omitempty"`
	Partition       uint32       `json:"partition,omitempty"`
	// Log, for a change stream, places the checkpoint in the source's log.
	Log *LogPosition `json:"log,omitempty"`
}

// LogPosition mirrors rapidbyte.v1.LogPosition: where a change stream's
// checkpoint stands in the source's log, for lag.
type LogPosition struct {
	// Position is the checkpoint's position (PostgreSQL: the LSN).
	Position uint64 `json:"position,omitempty"`
	// Head is the newest position the source had seen at the checkpoint.
	Head uint64 `json:"head,omitempty"`
	// CommitTimeMicros is the source commit time (Unix microseconds) of
	// the last transaction the checkpoint covers; 0 when none.
	CommitTimeMicros int64 `json:"commit_time_micros,omitempty"`
}

// FollowState is what the follow_state import hands a follow read (see
// StreamSpec.Follow): what the coordinator last told it.
type FollowState struct {
	// Persisted is the latest checkpoint of this read the coordinator
	// persisted (nil before the first): the source may release what
	// precedes it, e.g. confirm a replication slot up to its position.
	Persisted *Checkpoint `json:"persisted,omitempty"`
	// Stop asks the read to end at its next checkpoint.
	Stop bool `json:"stop,omitempty"`
}

// CursorValue mirrors rapidbyte.v1.CursorValue: exactly one field is set.
type CursorValue struct {
	Int             *int64   `json:"int_value,omitempty"`
	Double          *float64 `json:"double_value,omitempty"`
	String          *string  `json:"string_value,omitempty"`
	TimestampMicros *int64   `json:"timestamp_micros,omitempty"`
	DateDays        *int32   `json:"date_days,omitempty"`
	Decimal         *string  `json:"decimal_value,omitempty"`
}

// ErrorEnvelope mirrors rapidbyte.v1.ConnectorError; the guest hands it to
// set_error before a failing export returns.
type ErrorEnvelope struct {
	Category     string `json:"category"`               // "config" | "auth" | "permission" | "rate_limit" | "transient_network" | "transient_db" | "data" | "schema" | "internal" | "cancelled"
	Code         string `json:"code"`                   // short machine-readable code
	Message      string `json:"message"`                // never contains secrets
	Retryable    bool   `json:"retryable"`              // the same work may succeed if tried again
	SafeToRetry  bool   `json:"safe_to_retry"`          // retrying cannot duplicate committed data
	CommitState  string `json:"commit_state,omitempty"` // "before_commit" | "after_commit_unknown" | "after_commit_confirmed"
	RetryAfterMs uint64 `json:"retry_after_ms,omitempty"`
	Scope        string `json:"scope,omitempty"`         // "stream" | "batch" | "record"
	BackoffClass string `json:"backoff_class,omitempty"` // "fast" | "normal" | "slow"
	Hint         string `json:"hint,omitempty"`
}

// Field is one column of a batch schema.
type Field struct {
	Name string `json:"name"`
	// Type is the Arrow type in the grammar of ParseType, for example
	// "int64", "utf8", "timestamp[us, UTC]", "decimal128(12, 2)", "list<int32>".
	Type       string `json:"type"`
	Nullable   bool   `json:"nullable"`
	SourceType string `json:"source_type,omitempty"`
}

// SchemaEnvelope is the JSON passed to emit_schema.
type SchemaEnvelope struct {
	Fields []Field `json:"fields"`
}

// Column mirrors rapidbyte.v1.Column.
type Column struct {
	Name       string `json:"name"`
	ArrowType  string `json:"arrow_type"`
	Nullable   bool   `json:"nullable"`
	SourceType string `json:"source_type,omitempty"`
}

// Stream mirrors rapidbyte.v1.Stream.
type Stream struct {
	Namespace               string   `json:"namespace,omitempty"`
	Name                    string   `json:"name"`
	Columns                 []Column `json:"columns"`
	SupportedSyncModes      []string `json:"supported_sync_modes"` // lower-case sync mode names
	SourceDefinedCursor     bool     `json:"source_defined_cursor,omitempty"`
	DefaultCursorField      string   `json:"default_cursor_field,omitempty"`
	SourceDefinedPrimaryKey []string `json:"source_defined_primary_key,omitempty"`
	CursorCandidates        []string `json:"cursor_candidates,omitempty"`
	// EstimatedBytes is the source's estimate of the stream's size, 0 when
	// unknown; a run starts its largest streams first.
	EstimatedBytes uint64 `json:"estimated_bytes,omitempty"`
}

// Catalog mirrors rapidbyte.v1.Catalog; it is the set_result of rb_discover.
type Catalog struct {
	Streams []Stream `json:"streams"`
}

// CommitInfo is the optional payload of a destination's checkpoint call.
type CommitInfo struct {
	// RecordsFailed counts the records of the write the destination
	// rejected so far (on_data_error skip or dlq); they are part of the
	// delivered records but not written.
	RecordsFailed uint64 `json:"records_failed,omitempty"`
	// Committed, set only before the first next_batch and then alone, is
	// the position the destination already holds past the attempt's resume
	// point: the host acknowledges it like a commit (no commit happened).
	Committed *Checkpoint `json:"committed,omitempty"`
}

// CheckResult is the set_result of rb_check.
type CheckResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}
