package store

import (
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// RunState is the state of a run or stream.
type RunState string

// Run states, mirroring rapidbyte.v1.RunState.
const (
	StatePending   RunState = "PENDING"
	StateRunning   RunState = "RUNNING"
	StateSucceeded RunState = "SUCCEEDED"
	StateFailed    RunState = "FAILED"
	StateCancelled RunState = "CANCELLED"
)

// Final reports whether s is a terminal state.
func (s RunState) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Run is one pipeline run. Zero times mean "not yet".
type Run struct {
	// ID identifies the run; CreateRun generates a UUID when empty.
	ID string
	// Pipeline is the pipeline name.
	Pipeline string
	// State is the run's state.
	State RunState
	// IdempotencyKey, when set, is unique across runs.
	IdempotencyKey string
	// PipelineYAML is the submitted pipeline with ${VAR} references
	// unresolved; the store never sees resolved secrets.
	PipelineYAML string
	// CreatedAt is when the run was submitted; CreateRun sets it when zero.
	CreatedAt time.Time
	// StartedAt is when the first attempt began.
	StartedAt time.Time
	// FinishedAt is when the run reached a final state.
	FinishedAt time.Time
	// UpdatedAt is when the run was last written; set by the store.
	UpdatedAt time.Time
	// CancelRequested is set by RequestCancel; UpdateRun never clears it.
	CancelRequested bool
	// Follow is set for a run whose change stream reads until it is
	// cancelled (rapidbyte run --follow); set at creation.
	Follow bool
	// Owner identifies the coordinator instance that last drove the run;
	// the pipeline's Lease says who drives it now. Empty when unowned.
	Owner string
	// RecordsRead is the sum over streams.
	RecordsRead uint64
	// RecordsWritten is the sum over streams.
	RecordsWritten uint64
	// RecordsFailed is the sum over streams.
	RecordsFailed uint64
	// BytesRead is the sum over streams.
	BytesRead uint64
	// BytesWritten is the sum over streams.
	BytesWritten uint64
	// DurationSecs is the run's wall time.
	DurationSecs float64
	// Attempts is how many attempts have started; RetryCount is Attempts-1.
	Attempts int
	// Timings are the per-phase timings.
	Timings Timings
	// Error is why the run failed, if it did.
	Error *runerr.ConnectorError
	// ResumeData is what another coordinator process needs to resume the
	// run besides PipelineYAML (sealed by the caller, opaque to the store);
	// nil when nothing is needed. Written by CreateRun only.
	ResumeData []byte
	// ResumeBlocker, when set, says why no other coordinator process can
	// resume the run (e.g. its --var values are not stored). Written by
	// CreateRun only.
	ResumeBlocker string
}

// Lease is a pipeline's run lease: while it has not expired, Owner alone
// drives run RunID and no other run of Pipeline starts. The owner renews it;
// another coordinator may take it once it has expired.
type Lease struct {
	// Pipeline is the pipeline name; it has at most one lease.
	Pipeline string
	// RunID is the run the lease is for.
	RunID string
	// Owner identifies the coordinator instance holding it.
	Owner string
	// ExpiresAt is when the lease ends unless renewed.
	ExpiresAt time.Time
}

// Expired reports whether the lease has expired at now.
func (l Lease) Expired(now time.Time) bool { return l.ExpiresAt.Before(now) }

// RetryCount returns Attempts-1, or 0 before the first attempt.
func (r Run) RetryCount() int { return max(r.Attempts-1, 0) }

// Timings break a run's wall time down by phase (rapidbyte.v1.PhaseTimings).
type Timings struct {
	SourceModuleLoadMs float64 `json:"source_module_load_ms,omitempty"`
	DestModuleLoadMs   float64 `json:"dest_module_load_ms,omitempty"`
	SourceDurationSecs float64 `json:"source_duration_secs,omitempty"`
	DestDurationSecs   float64 `json:"dest_duration_secs,omitempty"`
	PlanSecs           float64 `json:"plan_secs,omitempty"`
	RetryWaitSecs      float64 `json:"retry_wait_secs,omitempty"`
	// The connectors' own per-phase times, summed over streams.
	SourceConnectSecs float64 `json:"source_connect_secs,omitempty"`
	SourceQuerySecs   float64 `json:"source_query_secs,omitempty"`
	SourceFetchSecs   float64 `json:"source_fetch_secs,omitempty"`
	DestConnectSecs   float64 `json:"dest_connect_secs,omitempty"`
	DestFlushSecs     float64 `json:"dest_flush_secs,omitempty"`
	DestCommitSecs    float64 `json:"dest_commit_secs,omitempty"`
}

// Attempt records one try of a run.
type Attempt struct {
	// RunID is the run the attempt belongs to.
	RunID string
	// Number is 1 for the first attempt.
	Number int
	// StartedAt is when the attempt began.
	StartedAt time.Time
	// FinishedAt is when it ended; zero while it runs.
	FinishedAt time.Time
	// Error is why the attempt failed, if it did.
	Error *runerr.ConnectorError
	// Streams lists the streams the attempt ran.
	Streams []string
}

// StreamResult is the latest result of one stream partition of a run.
type StreamResult struct {
	// RunID is the run the stream belongs to.
	RunID string
	// Stream is the stream name.
	Stream string
	// Partition is the partition index (0 when unpartitioned).
	Partition uint32
	// State is the stream's state.
	State RunState
	// RecordsRead counts records the source emitted in the last attempt.
	RecordsRead uint64
	// RecordsWritten counts records the destination committed.
	RecordsWritten uint64
	// RecordsFailed counts records the destination rejected (on_data_error
	// skip or dlq).
	RecordsFailed uint64
	// BytesRead counts Arrow bytes the source emitted.
	BytesRead uint64
	// BytesWritten counts Arrow bytes the destination consumed.
	BytesWritten uint64
	// Attempts is how many times the stream was tried.
	Attempts int
	// DurationSecs is the stream's wall time in its last attempt.
	DurationSecs float64
	// Error is the stream's last error, if any.
	Error *runerr.ConnectorError
	// Checkpoint is the last checkpoint the destination acknowledged.
	Checkpoint *Checkpoint
	// SourceWorker is the address of the worker that read the stream.
	SourceWorker string
	// DestWorker is the address of the worker that wrote the stream.
	DestWorker string
}

// Checkpoint is a resumable stream position (rapidbyte.v1.Checkpoint).
type Checkpoint struct {
	// ID increases with every checkpoint of one stream attempt.
	ID uint64 `json:"id"`
	// Stream is the stream the checkpoint belongs to.
	Stream string `json:"stream"`
	// Partition is the partition index (0 when unpartitioned).
	Partition uint32 `json:"partition"`
	// CursorField is the column the cursor value was read from.
	CursorField string `json:"cursor_field,omitempty"`
	// CursorValue is the last cursor value covered.
	CursorValue CursorValue `json:"cursor_value"`
	// TieBreakerField orders rows sharing one cursor value.
	TieBreakerField string `json:"tie_breaker_field,omitempty"`
	// TieBreakerValue is the last tie-breaker value covered.
	TieBreakerValue CursorValue `json:"tie_breaker_value"`
	// Records is the number of records covered.
	Records uint64 `json:"records"`
	// Bytes is the number of Arrow bytes covered.
	Bytes uint64 `json:"bytes"`
	// Log, for a change stream, places the checkpoint in the source's log
	// (for lag). It lives in memory only: the store keeps the cursor.
	Log *LogPosition `json:"-"`
}

// LogPosition places a change stream's checkpoint in the source's log.
type LogPosition struct {
	// Position is the checkpoint's position (PostgreSQL: the LSN).
	Position uint64
	// Head is the newest position the source had seen at the checkpoint.
	Head uint64
	// CommitTime is the source commit time of the last transaction the
	// checkpoint covers; zero when the source was caught up.
	CommitTime time.Time
}

// Cursor is the stored cursor of one stream partition of a pipeline.
type Cursor struct {
	// Pipeline is the pipeline name.
	Pipeline string
	// Checkpoint is the acknowledged position; its Stream and Partition
	// identify the cursor.
	Checkpoint Checkpoint
	// RunID is the run that wrote it.
	RunID string
	// UpdatedAt is when it was written; set by the store.
	UpdatedAt time.Time
}

// ListFilter selects and pages runs for ListRuns.
type ListFilter struct {
	// States keeps only runs in these states; empty keeps all.
	States []RunState
	// Pipeline keeps only runs of this pipeline; empty keeps all.
	Pipeline string
	// PageSize is the number of runs per page (default 20, max 100).
	PageSize int
	// PageToken continues a previous listing; it is opaque.
	PageToken string
}

// Paging limits for ListFilter.PageSize.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)
