package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

var (
	// ErrNotRunning means the engine is shutting down or has stopped (a
	// submission made before Run has started waits for it instead).
	ErrNotRunning = errors.New("engine is not running")
	// ErrNoChangeStream means a pipeline has no cdc stream to drop.
	ErrNoChangeStream = errors.New("no change stream")
	// errShutdown is the cancel cause of runs interrupted by shutdown.
	errShutdown = errors.New("coordinator shutting down")
	// errUserCancel is the cancel cause of runs cancelled through Cancel.
	errUserCancel = errors.New("run cancelled")
	// errLeaseLost is the cancel cause of runs whose lease another
	// coordinator took over (or that could not be renewed in time).
	errLeaseLost = errors.New("run lease lost")
	// errHandOff is the cancel cause of runs left for another coordinator
	// process at shutdown (failover mode).
	errHandOff = errors.New("coordinator shutting down; run handed off")
)

// ActiveRunError rejects a submission while another run of the pipeline
// holds the pipeline's lease.
type ActiveRunError struct {
	// Pipeline is the pipeline name.
	Pipeline string
	// RunID is the active run.
	RunID string
	// Owner is the coordinator driving it.
	Owner string
	// ExpiresAt is when its lease ends unless renewed.
	ExpiresAt time.Time
}

// Error implements error.
func (e *ActiveRunError) Error() string {
	return fmt.Sprintf("pipeline %q already has an active run %s (coordinator %s, lease renewed until %s): "+
		"wait for it to finish (rapidbyte watch %s) or cancel it (rapidbyte cancel %s), then run again",
		e.Pipeline, e.RunID, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339), e.RunID, e.RunID)
}

// cancelledError is the run error of a cancelled run.
func cancelledError() *runerr.ConnectorError {
	return &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED", Message: "run cancelled by user"}
}

// shutdownError is the run error of a run interrupted by coordinator shutdown.
func shutdownError() *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryInternal, Code: "COORDINATOR_SHUTDOWN",
		Message: "the coordinator shut down while the run was in progress",
		Hint:    "submit the run again; incremental streams resume from their last acknowledged cursor",
	}
}

// takeoverError finishes the attempt a coordinator left behind when another
// coordinator (or its own restarted process) took the run over.
func takeoverError(from, to string) *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryInternal, Code: "COORDINATOR_TAKEOVER",
		Message: fmt.Sprintf("attempt interrupted: coordinator %s stopped renewing the run's lease; coordinator %s resumed the run from its last acknowledged checkpoints", from, to),
	}
}

// handOffError finishes the attempt a coordinator interrupted at shutdown,
// leaving the run to another coordinator process.
func handOffError(owner string) *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryInternal, Code: "COORDINATOR_SHUTDOWN",
		Message: fmt.Sprintf("attempt interrupted: coordinator %s shut down and released the run for another coordinator to resume", owner),
	}
}

// supersededError is the run error of an unfinished run whose lease
// expired and whose pipeline was submitted again.
func supersededError(by string) *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryInternal, Code: "RUN_SUPERSEDED",
		Message: "the run's coordinator stopped (its lease expired) and run " + by + " of the same pipeline replaced it",
		Hint:    "run " + by + " continues from the cursors this run's acknowledged commits left",
	}
}

// notResumableError is the run error of a run another coordinator process
// took over but could not resume.
func notResumableError(reason string) *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryConfig, Code: "RESUME_FAILED",
		Message: "the run's coordinator stopped and the run cannot be resumed: " + reason,
		Hint:    "submit the run again; incremental streams resume from their last acknowledged cursor",
	}
}
