package store

import (
	"context"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// Store is the coordinator's state. Implementations are safe for concurrent
// use. Times are stored with microsecond precision and returned in UTC.
type Store interface {
	// CreateRun inserts run. If run.IdempotencyKey is set and a run with
	// that key exists, it returns that run with existed=true instead; when
	// the existing run's PipelineYAML differs the error wraps ErrConflict.
	// An empty ID is replaced by a new UUID, a zero CreatedAt by now, an
	// empty State by PENDING. A duplicate ID wraps ErrConflict.
	CreateRun(ctx context.Context, run Run) (created Run, existed bool, err error)
	// GetRun returns the run with id, or an error wrapping ErrNotFound.
	GetRun(ctx context.Context, id string) (Run, error)
	// UpdateRun overwrites the run's mutable fields (state, times, owner,
	// counts, duration, attempts, timings, error) with those of run.
	// ID, Pipeline, IdempotencyKey, PipelineYAML, CreatedAt and
	// CancelRequested are never changed by it. Missing runs wrap ErrNotFound.
	UpdateRun(ctx context.Context, run Run) error
	// RequestCancel sets CancelRequested on a run that is not final and
	// returns the run; accepted is false when it had already finished.
	RequestCancel(ctx context.Context, id string) (run Run, accepted bool, err error)
	// ListRuns returns runs matching f, newest first, and a token for the
	// next page ("" at the end).
	ListRuns(ctx context.Context, f ListFilter) (runs []Run, nextToken string, err error)
	// ListUnfinished returns every PENDING or RUNNING run, oldest first:
	// after a restart the coordinator resumes or fails them.
	ListUnfinished(ctx context.Context) ([]Run, error)

	// AddAttempt records the start of attempt a; a duplicate (run, number)
	// wraps ErrConflict and an unknown run ErrNotFound.
	AddAttempt(ctx context.Context, a Attempt) error
	// FinishAttempt records the end of an attempt and its error (nil on
	// success). A missing attempt wraps ErrNotFound.
	FinishAttempt(ctx context.Context, runID string, number int, finishedAt time.Time, failure *runerr.ConnectorError) error
	// ListAttempts returns a run's attempts in order.
	ListAttempts(ctx context.Context, runID string) ([]Attempt, error)

	// PutStreamResult inserts or replaces the result of (run, stream,
	// partition). An unknown run wraps ErrNotFound.
	PutStreamResult(ctx context.Context, r StreamResult) error
	// ListStreamResults returns a run's stream results ordered by stream
	// then partition.
	ListStreamResults(ctx context.Context, runID string) ([]StreamResult, error)

	// GetCursor returns the stored cursor of (pipeline, stream, partition),
	// or an error wrapping ErrNotFound when there is none.
	GetCursor(ctx context.Context, pipeline, stream string, partition uint32) (*Checkpoint, error)
	// PutCursor stores cp as the cursor of (pipeline, cp.Stream,
	// cp.Partition), replacing any previous one. Callers write it only once
	// the destination acknowledged the commit covering it (DESIGN §5).
	PutCursor(ctx context.Context, pipeline, runID string, cp Checkpoint) error
	// ListCursors returns a pipeline's cursors ordered by stream, partition.
	ListCursors(ctx context.Context, pipeline string) ([]Cursor, error)
	// DeleteCursors removes a pipeline's cursors for stream ("" = every
	// stream), e.g. to force a full resync. Deleting nothing is not an error.
	DeleteCursors(ctx context.Context, pipeline, stream string) error

	// AcquireLease takes the pipeline's lease for l.RunID and l.Owner until
	// l.ExpiresAt, atomically (correct under concurrent callers on several
	// hosts): when the pipeline has no lease, when its lease expired before
	// now, or when the same run and owner hold it already. Otherwise it
	// returns the lease that blocks it and false.
	AcquireLease(ctx context.Context, l Lease, now time.Time) (held Lease, acquired bool, err error)
	// RenewLease moves the expiry of the lease l names (pipeline, run,
	// owner) to l.ExpiresAt; false means that lease is gone (taken over or
	// released) and the caller must stop driving the run.
	RenewLease(ctx context.Context, l Lease) (held bool, err error)
	// ReleaseLease deletes the pipeline's lease if runID and owner hold it.
	ReleaseLease(ctx context.Context, pipeline, runID, owner string) error
	// GetLease returns the pipeline's lease, or an error wrapping ErrNotFound.
	GetLease(ctx context.Context, pipeline string) (Lease, error)
	// ListLeases returns every lease ordered by pipeline.
	ListLeases(ctx context.Context) ([]Lease, error)

	// Close releases the store; it is idempotent.
	Close() error
}
